import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { z } from 'zod';

/**
 * The one JSON file that describes a deployment, shared by every process: the metadata group's
 * members, deep storage, and the auth token. Unknown or misspelled keys are an error that names
 * them, so a typo never silently falls back to a default.
 */
const memberSchema = z.strictObject({
  id: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, 'ids are 1-64 letters, digits, "_", "-" or "."'),
  url: z.url({ protocol: /^https?$/ }),
  dc: z.string().min(1).default('dc1'),
});

const deepStorageSchema = z.discriminatedUnion('type', [
  z.strictObject({
    type: z.literal('local'),
    path: z.string().min(1),
    /** Workers' downloads bypass the page cache (O_DIRECT) where the file systems allow it. */
    directIo: z.boolean().optional(),
  }),
  z.strictObject({
    type: z.literal('s3'),
    bucket: z.string().min(1),
    prefix: z.string().default(''),
    endpoint: z.url().optional(),
    region: z.string().default('us-east-1'),
    forcePathStyle: z.boolean().default(false),
    accessKeyId: z.string().optional(),
    secretAccessKey: z.string().optional(),
  }),
]);

/** Raft timing; the defaults suit a LAN (heartbeat every 50 ms, elections after 300-600 ms). */
const raftSchema = z.strictObject({
  tickMs: z.int().min(1).max(10_000).default(50),
  electionTicks: z.int().min(2).max(1000).default(6),
  heartbeatTicks: z.int().min(1).max(100).default(1),
  /** Compact the log once this many entries were applied since the last compaction. */
  compactEvery: z.int().min(10).default(10_000),
  /** Entries kept behind the compaction point for followers that are only a little behind. */
  compactKeep: z.int().min(0).default(1000),
  /** ... or once this many bytes of entries were applied: the uncompacted log lives in memory. */
  compactBytes: z.int().min(1 << 20).default(64 << 20),
});

export const clusterConfigSchema = z.strictObject({
  meta: z.array(memberSchema).min(1).max(7).refine((m) => new Set(m.map((x) => x.id)).size === m.length, 'meta member ids must be unique'),
  deepStorage: deepStorageSchema.default({ type: 'local', path: 'var/deep' }),
  auth: z.strictObject({
    /** Bearer token for writes; CAIRN_TOKEN in the environment overrides it. */
    token: z.string().min(8, 'the token needs at least 8 characters').optional(),
    /** Shared secret for peer (Raft) traffic; defaults to the token. */
    peerToken: z.string().min(8).optional(),
  }).default({}),
  raft: raftSchema.default(raftSchema.parse({})),
});

export type ClusterConfig = z.infer<typeof clusterConfigSchema> & { readonly auth: { token: string; peerToken: string } };
export type MetaMember = z.infer<typeof memberSchema>;

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** Reads and validates a cluster file; relative paths in it are relative to the file. */
export function loadClusterConfig(path: string, env: NodeJS.ProcessEnv = process.env): ClusterConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read cluster config ${path}: ${(err as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(`cluster config ${path} is not valid JSON: ${(err as Error).message}`);
  }
  const config = parseClusterConfig(json, env, `cluster config ${path}`);
  if (config.deepStorage.type === 'local') {
    return { ...config, deepStorage: { ...config.deepStorage, path: resolve(dirname(path), config.deepStorage.path) } };
  }
  return config;
}

export function parseClusterConfig(json: unknown, env: NodeJS.ProcessEnv = process.env, what = 'cluster config'): ClusterConfig {
  const parsed = clusterConfigSchema.safeParse(json);
  if (!parsed.success) throw new ConfigError(`${what}: ${describeIssues(parsed.error)}`);
  const token = env['CAIRN_TOKEN'] ?? parsed.data.auth.token;
  if (!token) throw new ConfigError(`${what}: no auth token: set auth.token or CAIRN_TOKEN`);
  if (token.length < 8) throw new ConfigError(`${what}: the token needs at least 8 characters`);
  return { ...parsed.data, auth: { token, peerToken: parsed.data.auth.peerToken ?? token } };
}

/** One line per problem, each naming the path of the offending key. */
export function describeIssues(error: z.ZodError): string {
  return error.issues
    .map((issue) => {
      const path = issue.path.length > 0 ? issue.path.join('.') : '(top level)';
      if (issue.code === 'unrecognized_keys') {
        const where = issue.path.length > 0 ? ` in ${path}` : '';
        return `unknown key${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => JSON.stringify(k)).join(', ')}${where}`;
      }
      return `${path}: ${issue.message}`;
    })
    .join('; ');
}
