// Starts a Cairn program from compiled JavaScript: the TypeScript sources are bundled with esbuild
// into the package's dist/ folder when the bundle is missing or older than any source file, then
// the bundle runs. Compiling once instead of at every start (through tsx) saves a second or more
// per process start, which is what a restart after a crash is measured in. If bundling fails, the
// program runs from source through tsx, as before.
import { existsSync, mkdirSync, readdirSync, renameSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import './die-with-parent.mjs';

const PACKAGES = fileURLToPath(new URL('../../../', import.meta.url));
/** Native or worker-spawning packages stay outside the bundle. */
const EXTERNAL = ['level', 'classic-level', '@duckdb/node-api', 'esbuild', 'tsx', 'pino', 'thread-stream'];

function newestSource(dir, newest = 0) {
  for (const name of readdirSync(dir, { withFileTypes: true })) {
    if (name.name === 'node_modules' || name.name === 'dist' || name.name.startsWith('.')) continue;
    const path = join(dir, name.name);
    if (name.isDirectory()) newest = newestSource(path, newest);
    else if (/\.(ts|mjs|js|json)$/.test(name.name) && !name.name.endsWith('.test.ts')) newest = Math.max(newest, statSync(path).mtimeMs);
  }
  return newest;
}

/**
 * @param {{ entry: string, bundle: string }} program paths: the TypeScript entry and the bundle to run
 */
export async function launch(program) {
  const { entry, bundle } = program;
  try {
    const fresh = existsSync(bundle) && statSync(bundle).mtimeMs >= newestSource(PACKAGES);
    if (!fresh) {
      const { build } = await import('esbuild');
      mkdirSync(dirname(bundle), { recursive: true });
      const tmp = `${bundle}.${process.pid}.tmp`;
      await build({
        entryPoints: [entry],
        bundle: true,
        platform: 'node',
        format: 'esm',
        target: 'node20',
        outfile: tmp,
        external: EXTERNAL,
        logLevel: 'error',
        // Bundled CommonJS dependencies still call require().
        banner: { js: "import { createRequire as __cairnRequire } from 'node:module'; const require = __cairnRequire(import.meta.url);" },
      });
      // Atomic: processes starting together never run a half-written bundle.
      renameSync(tmp, bundle);
    }
  } catch (err) {
    process.stderr.write(`(running from source: could not bundle ${entry}: ${err instanceof Error ? err.message : String(err)})\n`);
    const { register } = await import('tsx/esm/api');
    register();
    await import(pathToFileURL(entry).href);
    return;
  }
  await import(pathToFileURL(bundle).href);
}
