#!/usr/bin/env node
// cairn-worker: runs the compiled bundle of src/main.ts (built on demand; see @cairn/shared/launch).
import { launch } from '@cairn/shared/launch';

await launch({
  entry: new URL('../src/main.ts', import.meta.url).pathname,
  bundle: new URL('../dist/cairn-worker.mjs', import.meta.url).pathname,
});
