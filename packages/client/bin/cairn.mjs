#!/usr/bin/env node
// cairn: runs the compiled bundle of src/cli/main.ts (built on demand; see @cairn/shared/launch).
import { launch } from '@cairn/shared/launch';

await launch({
  entry: new URL('../src/cli/main.ts', import.meta.url).pathname,
  bundle: new URL('../dist/cairn.mjs', import.meta.url).pathname,
});
