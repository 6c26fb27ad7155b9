import { randomInt } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { serve } from '@hono/node-server';
import type { AddressInfo } from 'node:net';
import { buildApp } from './http/app.js';
import { catalogMachines } from './node/catalog-machine.js';
import { CoordinatorDriver } from './node/coordinator-driver.js';
import { ConfigError, loadClusterConfig } from './node/cluster-config.js';
import { createLogger } from './node/logger.js';
import { NodeMetrics } from './node/metrics.js';
import { rehearseFailovers } from './node/rehearsal.js';
import { RaftNode } from './node/raft-node.js';
import { RaftStorage } from './node/raft-storage.js';
import { PeerTransport } from './node/transport.js';
import { handoverTarget } from './node/handover-target.js';
import { VERSION } from './version.js';

/**
 * cairn-meta: one member of the metadata group.
 *   cairn-meta --config cluster.json --id m1 --data DIR
 * The only place that binds a port. SIGTERM is graceful: a leader hands leadership to a follower
 * that is up to date and has been connected longest (`handoverTarget`) before it exits.
 */
const USAGE = 'usage: cairn-meta --config cluster.json --id m1 --data DIR';
const SHUTDOWN_TRANSFER_MS = 2000;
/** How long an old leader keeps acknowledging its successor before it leaves. */
const SHUTDOWN_LINGER_MS = 300;

function parseArgs(argv: readonly string[]): { config: string; id: string; data: string } {
  const args: Record<string, string> = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--help' || a === '-h') {
      process.stdout.write(`${USAGE}\n`);
      process.exit(0);
    }
    if (!['--config', '--id', '--data'].includes(a)) throw new ConfigError(`unknown argument ${a}; ${USAGE}`);
    const v = argv[++i];
    if (v === undefined || v.startsWith('--')) throw new ConfigError(`${a} needs a value; ${USAGE}`);
    args[a.slice(2)] = v;
  }
  for (const k of ['config', 'id', 'data']) if (!args[k]) throw new ConfigError(`missing --${k}; ${USAGE}`);
  return { config: args['config']!, id: args['id']!, data: args['data']! };
}

/**
 * How far V8 lets the heap grow past what survived the last full collection, in percent. Its
 * default lets a heap of a few hundred MB reach about 4x its live size before collecting: a
 * million-segment catalog (about 370 MB live) then kept 1.02-1.18 GiB resident. A metadata node
 * shares its machine and must stay small; at 50 the leader stayed under 1 GiB at the same publish
 * rate, for about 4% more CPU per publish.
 */
const HEAP_GROWING_PERCENT = 50;

/** Handovers and writes per term the start-up rehearsal runs through (see `rehearseFailovers`). */
const REHEARSAL_HANDOVERS = 60;
const REHEARSAL_PROPOSALS = 20;

async function main(): Promise<void> {
  setFlagsFromString(`--heap-growing-percent=${HEAP_GROWING_PERCENT}`);
  const args = parseArgs(process.argv.slice(2));
  const config = loadClusterConfig(args.config);
  const self = config.meta.find((m) => m.id === args.id);
  if (!self) throw new ConfigError(`--id ${args.id} is not a meta member in ${args.config} (members: ${config.meta.map((m) => m.id).join(', ')})`);
  const log = createLogger({ node: self.id });
  const dataDir = resolve(args.data);
  mkdirSync(dataDir, { recursive: true });
  let storage: RaftStorage;
  try {
    storage = await RaftStorage.open(join(dataDir, 'raft'));
  } catch (err) {
    throw new ConfigError(`cannot open ${join(dataDir, 'raft')}: ${(err as Error).message} (is another cairn-meta using it?)`);
  }
  // Before the node starts, so that it holds no raft loop up: 50-80 ms of CPU (measured).
  const rehearsalStart = performance.now();
  const rehearsal = rehearseFailovers(REHEARSAL_HANDOVERS, REHEARSAL_PROPOSALS);
  log.debug({ ...rehearsal, ms: Math.round(performance.now() - rehearsalStart) }, 'rehearsed failovers in memory');
  const metrics = new NodeMetrics();
  // The node and the transport refer to each other through these closures.
  let node: RaftNode<ReturnType<typeof catalogMachines.fromRecords>> | null = null;
  const transport = new PeerTransport(self.id, config.meta, config.auth.peerToken, {
    unreachable: (peer) => node?.reportUnreachable(peer),
    snapshotStatus: (peer, ok) => {
      metrics.snapshotsSent.inc({ result: ok ? 'ok' : 'failed' });
      node?.reportSnapshot(peer, ok);
    },
    openSnapshot: (index) => node?.openSnapshot(index) ?? null,
  }, log);
  node = new RaftNode({
    id: self.id,
    voters: config.meta.map((m) => m.id),
    storage,
    machines: catalogMachines,
    send: (messages) => transport.send(messages),
    log,
    ...config.raft,
    seed: randomInt(2 ** 31),
    onReady: (info) => metrics.onReady(info),
    onFatal: (err) => {
      log.fatal({ err }, 'stopping: the raft loop failed');
      process.exit(70);
    },
  });
  await node.start();
  metrics.heldWrites = () => node?.heldWrites() ?? 0;

  const coordinator = new CoordinatorDriver(node, log);
  coordinator.onCycle = (s) => metrics.onCoordinatorCycle(s);
  coordinator.start();
  const app = buildApp({ node, config, self, metrics, log, version: VERSION, coordinator });
  const url = new URL(self.url);
  const server = serve({ fetch: app.fetch, hostname: url.hostname, port: Number(url.port || 80) });
  // Peer streams are requests that last as long as the peer is up: no request timeout.
  (server as unknown as { requestTimeout: number }).requestTimeout = 0;
  await new Promise<void>((res, rej) => {
    server.once('listening', () => res());
    server.once('error', rej);
  });
  const addr = server.address() as AddressInfo;
  log.info({ url: self.url, port: addr.port, version: VERSION }, 'cairn-meta listening');

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down');
    const n = node!;
    if (n.core.role === 'leader') {
      const target = handoverTarget(
        n.core.conf.voters.filter((id) => id !== n.id).map((id) => {
          const pr = n.core.progressOf(id);
          return { id, match: pr?.match ?? 0, connectedSince: transport.connectedSince(id), active: pr?.recentActive ?? false };
        }),
      );
      if (target) {
        const moved = await n.transferLeadership(target, SHUTDOWN_TRANSFER_MS).catch(() => false);
        log.info({ target, moved }, 'leadership transfer before exit');
        // Keep acknowledging the new leader until it has committed in its term, and a little
        // longer: leaving at once would make it depend on the third member alone, which may be
        // behind or busy, for the writes that follow.
        if (moved) {
          await n.whenCommittedInTerm(SHUTDOWN_TRANSFER_MS).catch(() => undefined);
          await new Promise((r) => setTimeout(r, SHUTDOWN_LINGER_MS));
        }
      }
    }
    // Stop taking client requests first; the peers' streams end with the process.
    server.close();
    await transport.drain(200);
    coordinator.stop();
    transport.close();
    (server as unknown as { closeAllConnections?: () => void }).closeAllConnections?.();
    await n.stop();
    await storage.close();
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
}

main().catch((err: unknown) => {
  if (err instanceof ConfigError) {
    process.stderr.write(`cairn-meta: ${err.message}\n`);
    process.exit(2);
  }
  process.stderr.write(`cairn-meta: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
