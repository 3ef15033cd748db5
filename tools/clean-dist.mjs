// Empties dist/ before tsc writes it: tsc never deletes the output of a file that moved or went,
// and `files` in package.json publishes whole folders, so a stale one would ship.
import { rmSync } from 'node:fs';
rmSync('dist', { recursive: true, force: true });
