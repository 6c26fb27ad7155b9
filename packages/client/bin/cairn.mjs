#!/usr/bin/env node
// Runs the cairn CLI from its TypeScript source through tsx.
import { register } from 'tsx/esm/api';

register();
await import('../src/cli/main.ts');
