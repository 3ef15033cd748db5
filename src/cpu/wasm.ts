// Loads the kernel module: two builds of the same AssemblyScript source, plain SIMD and relaxed
// SIMD. One relaxed instruction makes a whole module invalid where relaxed SIMD is off (Node 20
// without its flag, Safari), so we validate before choosing, and report the choice.
import { fail } from '../errors.js';
import { enableRelaxedSimd, isNode } from '../probe.js';

export type SimdBuild = 'relaxed' | 'simd';

export interface KernelModule {
  module: WebAssembly.Module;
  build: SimdBuild;
  /** Why the other build was not taken, if it was not. */
  note?: string;
}

function wasmUrl(build: SimdBuild): URL {
  // src/cpu/ and dist/src/cpu/ both see the builds at ../../build/ (tools/copy-wasm.mjs).
  return new URL(`../../build/blocksparse.${build}.wasm`, import.meta.url);
}

async function readBytes(url: URL): Promise<Uint8Array<ArrayBuffer>> {
  if (isNode && url.protocol === 'file:') {
    const { readFile } = await import('node:fs/promises');
    const { fileURLToPath } = await import('node:url');
    return new Uint8Array(await readFile(fileURLToPath(url)));
  }
  const response = await fetch(url);
  if (!response.ok) throw fail(`could not load ${url.href} (HTTP ${response.status})`);
  return new Uint8Array(await response.arrayBuffer());
}

let cached: Promise<KernelModule> | undefined;

/** Compiles the best build this runtime validates, once per process. */
export function loadKernelModule(prefer: SimdBuild | 'auto' = 'auto'): Promise<KernelModule> {
  if (prefer !== 'auto') return compileBuild(prefer);
  cached ??= (async () => {
    await enableRelaxedSimd();
    const relaxed = await readBytes(wasmUrl('relaxed'));
    if (WebAssembly.validate(relaxed)) {
      return { module: await WebAssembly.compile(relaxed), build: 'relaxed' as const };
    }
    const plain = await readBytes(wasmUrl('simd'));
    if (!WebAssembly.validate(plain)) {
      throw fail('this runtime supports neither WebAssembly SIMD build (fixed-width SIMD is required)');
    }
    return {
      module: await WebAssembly.compile(plain),
      build: 'simd' as const,
      note: 'relaxed SIMD is not available in this runtime: using the plain SIMD build',
    };
  })();
  return cached;
}

async function compileBuild(build: SimdBuild): Promise<KernelModule> {
  if (build === 'relaxed') await enableRelaxedSimd();
  const bytes = await readBytes(wasmUrl(build));
  if (!WebAssembly.validate(bytes)) {
    throw fail(`the ${build} build does not validate in this runtime`);
  }
  return { module: await WebAssembly.compile(bytes), build };
}

/** 64 KiB pages. Sized up front: workers then never see a stale length (emscripten#8287). */
export const MAX_PAGES = 65536;

/** A shared memory when the runtime allows it (threads need one); the module imports a shared memory. */
export function createMemory(initialPages: number): WebAssembly.Memory {
  let lastError: unknown;
  for (const maximum of [MAX_PAGES, 32768, 16384]) {
    try {
      return new WebAssembly.Memory({ initial: Math.min(initialPages, maximum), maximum, shared: true });
    } catch (e) {
      lastError = e;
    }
  }
  throw fail(`could not create a shared WebAssembly.Memory (${String(lastError)})`);
}

export type KernelExports = Record<string, (...args: number[]) => number | void>;

export function instantiate(module: WebAssembly.Module, memory: WebAssembly.Memory): KernelExports {
  const instance = new WebAssembly.Instance(module, {
    env: {
      memory,
      abort: (_msg: number, _file: number, line: number, col: number) => {
        throw fail(`kernel aborted at ${line}:${col}`);
      },
    },
  });
  return instance.exports as unknown as KernelExports;
}
