#!/usr/bin/env node
// Runs cairn-meta from its TypeScript source through tsx.
import { register } from 'tsx/esm/api';

register();
await import('../src/main.ts');
