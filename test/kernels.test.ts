// The named-argument table (src/cpu/kernels.ts) against the kernels it binds: in each build, every
// entry is an export taking as many parameters as the table names, and every function export is
// in the table, so whatever the host calls is bound by name; the names and their order are
// assembly/'s own (the export's source function, found through the build's .wat).
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, readFileSync } from 'node:fs';
import { kernelParameters, positionalArgs, type KernelName } from '../src/cpu/kernels.js';
import { createMemory, instantiate, loadKernelModule, type SimdBuild } from '../src/cpu/wasm.js';

const root = new URL('..', import.meta.url);
const names = Object.keys(kernelParameters) as KernelName[];

for (const build of ['simd', 'relaxed'] as const satisfies readonly SimdBuild[]) {
  const t = suite(`kernel table, ${build} build`);

  t('every entry is an export with as many parameters; every function export is an entry', async () => {
    let module: WebAssembly.Module;
    try {
      ({ module } = await loadKernelModule(build));
    } catch (e) {
      // the plain build must load; relaxed SIMD may be missing from the runtime
      if (build === 'simd') throw e;
      console.log(`  skipped: ${e instanceof Error ? e.message : String(e)}`);
      return;
    }
    const exports = instantiate(module, createMemory(16));
    for (const name of names) {
      const fn = exports[name];
      assert.type(fn, 'function', `export '${name}'`);
      assert.is(fn.length, kernelParameters[name].length, `'${name}' takes ${fn.length} parameters; the table names ${kernelParameters[name].length}`);
    }
    const functions = WebAssembly.Module.exports(module).filter((e) => e.kind === 'function').map((e) => e.name);
    assert.equal(functions.filter((f) => !names.includes(f as KernelName)), [], 'function exports missing from the table');
  });

  t.run();
}

const source = suite('kernel table, parameter names');

/** Export name → [assembly/ file, function] from the build's text output (`(export "x" (func $assembly/file/fn))`). */
function exportSources(wat: string): Map<string, [string, string]> {
  const map = new Map<string, [string, string]>();
  for (const m of wat.matchAll(/\(export "(\w+)" \(func \$assembly\/([\w-]+)\/(\w+)\)\)/g)) map.set(m[1], [m[2], m[3]]);
  return map;
}

/** The parameter names of `export function fn(...)` in an AssemblyScript source. */
function parameterNames(text: string, fn: string): string[] | undefined {
  const m = new RegExp(`export function ${fn}\\(([^)]*)\\)`).exec(text);
  if (!m) return undefined;
  return m[1].split(',').map((p) => p.trim()).filter((p) => p !== '').map((p) => p.split(':')[0].trim());
}

source('each entry names its source function\'s parameters, in order', () => {
  const watUrl = new URL('build/blocksparse.simd.wat', root);
  assert.ok(existsSync(watUrl), 'build/blocksparse.simd.wat is missing: run npm run build:wasm');
  const sources = exportSources(readFileSync(watUrl, 'utf8'));
  for (const name of names) {
    const where = sources.get(name);
    assert.ok(where, `the .wat exports no function '${name}'`);
    const [file, fn] = where;
    const params = parameterNames(readFileSync(new URL(`assembly/${file}.ts`, root), 'utf8'), fn);
    assert.ok(params, `assembly/${file}.ts declares no export function ${fn}`);
    assert.equal([...kernelParameters[name]], params, `'${name}' (assembly/${file}.ts ${fn})`);
  }
});

source.run();

const convert = suite('positionalArgs');

convert('orders named arguments as the table does, whatever the object\'s order', () => {
  assert.equal(positionalArgs('diagnosticFill', { value: 2.5, count: 8, p: 64 }), [64, 8, 2.5]);
  assert.equal(positionalArgs('diagnosticTrap', {}), []);
});

convert('a missing or non-numeric argument throws, naming the kernel and the argument', () => {
  const missing = { p: 64, count: 8 } as unknown as { p: number; count: number; value: number };
  assert.throws(() => positionalArgs('diagnosticFill', missing), (e: Error) => e instanceof TypeError && /'diagnosticFill' argument 'value' is missing/.test(e.message));
  const text = { p: 64, count: '8', value: 1 } as unknown as { p: number; count: number; value: number };
  assert.throws(() => positionalArgs('diagnosticFill', text), /'diagnosticFill' argument 'count' is a string/);
});

convert('a kernel outside the table throws with its name', () => {
  assert.throws(() => positionalArgs('noSuchKernel' as 'diagnosticTrap', {}), /no kernel export 'noSuchKernel'/);
  assert.throws(() => positionalArgs('toString' as 'diagnosticTrap', {}), /no kernel export 'toString'/);
});

convert.run();
