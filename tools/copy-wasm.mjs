// Puts the Wasm builds beside the compiled JavaScript, at the same relative path that src/ sees
// (src/cpu/ → ../../build and dist/src/cpu/ → ../../build), so one loader serves both.
import { cpSync, mkdirSync } from 'node:fs';
mkdirSync('dist/build', { recursive: true });
cpSync('build', 'dist/build', { recursive: true, filter: (f) => !f.endsWith('.wat') });
