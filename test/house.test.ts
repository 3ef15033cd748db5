// The house's import rules, checked on the sources (docs/DESIGN.md, "Data flow"): assembly/ is
// kernels alone; src/ is the library alone (nothing from cli/, bench/ or test/, and gpu/ only through
// the engine's dynamic import); gpu/ takes only shared types, tables, errors and probes from src/;
// cli/ sits on the library; the published files hold no bench, test or example code.
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

function sources(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(join(root, dir), { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...sources(p));
    else if (/\.(ts|mts)$/.test(e.name) && !e.name.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

interface Import { from: string; target: string; dynamic: boolean }

/** Relative imports of a file, resolved to repository paths (`from '…'`, `import '…'` and `import('…')`). */
function importsOf(file: string): Import[] {
  const text = readFileSync(join(root, file), 'utf8').replace(/^\s*\/\/.*$/gm, '').replace(/\/\*[\s\S]*?\*\//g, '');
  const found: Import[] = [];
  for (const [re, dynamic] of [[/\bfrom\s+'(\.[^']+)'/g, false], [/\bimport\s+'(\.[^']+)'/g, false], [/\bimport\s*\(\s*'(\.[^']+)'\s*\)/g, true]] as const) {
    for (const m of text.matchAll(re)) found.push({ from: file, target: relative(root, resolve(root, dirname(file), m[1])), dynamic });
  }
  return found;
}

const top = (path: string) => path.split('/')[0];

test('assembly/ imports nothing outside assembly/', () => {
  const bad = sources('assembly').flatMap(importsOf).filter((i) => top(i.target) !== 'assembly');
  assert.equal(bad, []);
});

test('src/ imports nothing from cli/, bench/ or test/, and gpu/ only dynamically from the engine', () => {
  const bad = sources('src').flatMap(importsOf).filter((i) => {
    const t = top(i.target);
    if (t === 'src') return false;
    return !(t === 'gpu' && i.dynamic && i.from === 'src/engine.ts');
  });
  assert.equal(bad, []);
});

test('gpu/ takes only shared types, tables, selections, errors, probes and the attention parts from src/', () => {
  // selected-layout: the rows a selection returns (Backend.selectBlocks), the same type on both backends
  const shared = new Set(['src/backend.js', 'src/types.js', 'src/errors.js', 'src/probe.js', 'src/layouts/compile.js', 'src/layouts/selected-layout.js', 'src/attention-parts.js']);
  const bad = sources('gpu').flatMap(importsOf).filter((i) => top(i.target) !== 'gpu' && !shared.has(i.target));
  assert.equal(bad, []);
});

test('cli/ imports neither bench/ nor test/', () => {
  const bad = sources('cli').flatMap(importsOf).filter((i) => top(i.target) === 'bench' || top(i.target) === 'test');
  assert.equal(bad, []);
});

test('examples/ reach the library only through the package entry (dist/src/index.js), as a user would', () => {
  const files = readdirSync(join(root, 'examples')).filter((f) => f.endsWith('.mjs')).map((f) => join('examples', f));
  assert.ok(files.length > 0);
  const bad = files.flatMap(importsOf).filter((i) => top(i.target) !== 'examples' && i.target !== 'dist/src/index.js');
  assert.equal(bad, []);
});

test('the package publishes no bench, test or example code', () => {
  const files = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { files: string[] }).files;
  assert.ok(files.length > 0);
  for (const f of files) assert.not.match(f, /(^|\/)(bench|test|examples)(\/|$)/, f);
});

test.run();
