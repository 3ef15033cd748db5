// README.md's JavaScript snippets, from "## Example" on, run in order on the CPU as a reader would
// paste them into one module (one engine, every name they leave to the reader supplied here), so
// that the examples cannot rot: a renamed option, a missing append or a clashing name fails here.
import { readFileSync } from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as bs from '../src/index.js';

const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');

/** The ```js blocks of README.md between two headings, in order. */
function snippets(from: string, to: string): string[] {
  const start = readme.indexOf(`\n${from}\n`);
  const end = readme.indexOf(`\n${to}\n`, start);
  assert.ok(start >= 0 && end > start, `README.md has the sections '${from}' … '${to}'`);
  return [...readme.slice(start, end).matchAll(/```js\n([\s\S]*?)```/g)].map((m) => m[1]);
}

/** One snippet as the body of an async function: imports become reads of the modules given. */
function asBody(code: string): string {
  return code.replace(/^import (\w+) from 'node:fs';$/gm, (_, name) => (name === 'fs' ? '' : `const ${name} = fs;`)).replace(/^import \{([^}]*)\} from 'blocksparse';$/gm, 'const {$1} = bs;');
}

// the generation snippet's prompt and step tensors: [1, h, n, 128], 32 query heads over 8 kv heads
const given = `
const half = (h, n) => ({ data: new Float32Array(h * n * 128).map(() => Math.random() - 0.5), shape: [1, h, n, 128] });
const promptK = half(8, 100), promptV = half(8, 100), promptQ = half(32, 100);
const stepK = half(8, 1), stepV = half(8, 1), stepQ = half(32, 1);
`;

test('the README examples run in order on one CPU engine', async () => {
  const blocks = snippets('## Example', '## BlockSparseLinear');
  assert.ok(blocks.length >= 6, `${blocks.length} snippets`);
  const body = blocks.map((b, i) => `${b.includes('promptK') ? given : ''}${asBody(b)}\nran.push(${i});`).join('\n');
  const written: string[] = [];
  const fs = { writeFileSync: (path: string, text: string) => written.push(`${path}: ${text.length} chars`) };
  const ran: number[] = [];
  const quiet = console.log;
  console.log = () => {};
  let engine: bs.Engine | undefined;
  try {
    const AsyncFunction = Object.getPrototypeOf(async () => {}).constructor as new (...args: string[]) => (...a: unknown[]) => Promise<bs.Engine>;
    const run = new AsyncFunction('bs', 'fs', 'ran', `${body.replace("backend: 'auto'", "backend: 'cpu', threads: 2")}\nreturn engine;`);
    engine = await run(bs, fs, ran);
  } finally {
    console.log = quiet;
    await engine?.close();
  }
  assert.equal(ran, blocks.map((_, i) => i));
  assert.equal(written.length, 1, 'layoutToSVG wrote its file');
});

test.run();
