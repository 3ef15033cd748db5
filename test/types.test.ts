// The published types, as a TypeScript consumer sees them: test/types/consumer.ts imports
// 'blocksparse' through package.json `exports` (dist/src/index.d.ts) and must compile, in a browser
// project (DOM, no Node types) and with ES2022 alone (no DOM, no Node types: the published .d.ts
// stand on their own, for Node, Deno and Bun projects alike). Needs `npm run build`.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const tsc = fileURLToPath(new URL('../node_modules/typescript/bin/tsc', import.meta.url));

function compile(project: string): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [tsc, '-p', project, '--pretty', 'false'], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (c) => (out += c));
    child.stderr.on('data', (c) => (out += c));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, out });
    });
  });
}

const built = existsSync(new URL('../dist/src/index.d.ts', import.meta.url));
// started together: each tsc is mostly single-threaded
const browser = built ? compile('test/types/tsconfig.json') : undefined;
const bare = built ? compile('test/types/tsconfig.es.json') : undefined;
// the benchmarks and the Node test code: tsx runs them without checking types
const internal = compile('tsconfig.check.json');

test('dist/src/index.d.ts exists (npm run build)', () => {
  assert.ok(built, 'dist/src/index.d.ts is missing: run npm run build');
});

// Without dist/ the consumer checks cannot run: they are skipped (the test above fails saying why).
const whenBuilt = built ? test : test.skip;

whenBuilt("a browser consumer compiles against 'blocksparse' (tsc -p test/types)", async () => {
  const { code, out } = await browser!;
  assert.is(code, 0, `tsc -p test/types failed:\n${out}`);
});

whenBuilt("a consumer with ES2022 alone (no DOM, no Node types) compiles against 'blocksparse' (tsc -p test/types/tsconfig.es.json)", async () => {
  const { code, out } = await bare!;
  assert.is(code, 0, `tsc -p test/types/tsconfig.es.json failed:\n${out}`);
});

test('cli/, bench/ and test/ type-check against src/ and gpu/ (tsc -p tsconfig.check.json)', async () => {
  const { code, out } = await internal;
  assert.is(code, 0, `tsc -p tsconfig.check.json failed:\n${out}`);
});

test.run();
