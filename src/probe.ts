/// <reference types="@webgpu/types" />
// What this runtime offers, probed in one place (onnxruntime-web's wasm/wasm-factory.ts): SIMD,
// relaxed SIMD, threads (shared memory that can be posted), cross-origin isolation, and a WebGPU
// adapter. Every answer that can be "no" comes with its reason, for engine.info and the CLI.
// The CPU backend (src/cpu), the WebGPU backend (gpu/device.ts) and the CLI all ask here.
import { errors } from './errors.js';

/** Node, or Bun (which passes for it); not Deno, whose `process` is a compatibility layer. */
export const isNode =
  typeof process !== 'undefined' &&
  typeof process.versions?.node === 'string' &&
  typeof (globalThis as { Deno?: unknown }).Deno === 'undefined';

// ---- SIMD ---------------------------------------------------------------------------------------

// Smallest modules using one instruction of each (onnxruntime-web's isSimdSupported and
// isRelaxedSimdSupported), validated, never run.
const SIMD_MODULE = new Uint8Array([
  0, 97, 115, 109, 1, 0, 0, 0, 1, 4, 1, 96, 0, 0, 3, 2, 1, 0, 10, 30, 1, 28, 0, 65, 0, 253, 15, 253, 12,
  ...new Array<number>(16).fill(0), // a v128.const of zeros
  253, 186, 1, 26, 11,
]);
const RELAXED_SIMD_MODULE = new Uint8Array([
  0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 19, 1, 17, 0, 65, 1, 253, 15, 65, 2, 253, 15, 65, 3, 253, 15, 253,
  147, 2, 11,
]);

/** Fixed-width WebAssembly SIMD, which every kernel build needs. */
export function simdSupported(): boolean {
  return typeof WebAssembly === 'object' && WebAssembly.validate(SIMD_MODULE);
}

/**
 * Node 20's V8 has relaxed SIMD behind a flag that can be set at run time, before compiling. One
 * relaxed instruction makes a whole module invalid where it is off (Node 20 without the flag, Safari).
 */
export async function enableRelaxedSimd(): Promise<void> {
  if (!isNode) return;
  try {
    const v8 = await import('node:v8');
    v8.setFlagsFromString('--experimental-wasm-relaxed-simd');
  } catch {
    // not fatal: the plain build is taken
  }
}

/** Relaxed SIMD, after turning on Node's flag where there is one. */
export async function relaxedSimdSupported(): Promise<boolean> {
  await enableRelaxedSimd();
  return typeof WebAssembly === 'object' && WebAssembly.validate(RELAXED_SIMD_MODULE);
}

// ---- threads --------------------------------------------------------------------------------------

export interface ThreadsSupport {
  ok: boolean;
  /** Why not, when not. */
  reason?: string;
}

/** A browser page's cross-origin isolation; undefined outside browsers (Node and Deno need none). */
export function crossOriginIsolation(): boolean | undefined {
  const v = (globalThis as { crossOriginIsolated?: unknown }).crossOriginIsolated;
  return typeof v === 'boolean' ? v : undefined;
}

/**
 * Whether a buffer is a SharedArrayBuffer, without naming the global: browsers hide it from pages
 * that are not cross-origin isolated (a bare `instanceof SharedArrayBuffer` throws ReferenceError
 * there), though a shared WebAssembly.Memory still hands one out.
 */
export function isSharedBuffer(buffer: unknown): boolean {
  return Object.prototype.toString.call(buffer) === '[object SharedArrayBuffer]';
}

/** How long a posted SharedArrayBuffer may take to arrive back on the same thread. */
const PROBE_TIMEOUT_MS = 2000;

/**
 * Posts a shared memory's buffer through a MessageChannel. Checking that SharedArrayBuffer
 * exists is not enough: pages that are not cross-origin isolated can still reach one through a
 * shared WebAssembly.Memory, but posting it throws (microsoft/onnxruntime#21748, #9681).
 */
export async function threadsSupport(): Promise<ThreadsSupport> {
  const g = globalThis as { Worker?: unknown; MessageChannel?: typeof MessageChannel };
  if (crossOriginIsolation() === false) {
    return {
      ok: false,
      reason: 'the page is not cross-origin isolated (serve it with Cross-Origin-Opener-Policy: same-origin and Cross-Origin-Embedder-Policy: require-corp)',
    };
  }
  if (!isNode && typeof g.Worker !== 'function') return { ok: false, reason: 'this runtime has no Worker' };
  if (typeof g.MessageChannel !== 'function') return { ok: false, reason: 'this runtime has no MessageChannel' };
  let memory: WebAssembly.Memory;
  try {
    memory = new WebAssembly.Memory({ initial: 1, maximum: 1, shared: true });
  } catch (e) {
    return { ok: false, reason: `shared WebAssembly memory is not available (${String(e)})` };
  }
  const sent = memory.buffer;
  if (!isSharedBuffer(sent)) return { ok: false, reason: 'a shared WebAssembly.Memory did not give a SharedArrayBuffer' };
  const { port1, port2 } = new g.MessageChannel();
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    const received = new Promise<unknown>((resolve, reject) => {
      port2.onmessage = (event) => resolve(event.data);
      port2.onmessageerror = () => reject(new Error('it arrived but could not be deserialised'));
      timer = setTimeout(() => reject(new Error(`it did not arrive within ${PROBE_TIMEOUT_MS} ms`)), PROBE_TIMEOUT_MS);
    });
    port1.postMessage(sent);
    const got = await received;
    // the same memory, not a copy: a write through one is seen through the other
    if (!isSharedBuffer(got)) return { ok: false, reason: 'a posted SharedArrayBuffer arrived as something else' };
    new Uint8Array(got as ArrayBufferLike)[7] = 42;
    if (new Uint8Array(sent)[7] !== 42) return { ok: false, reason: 'a posted SharedArrayBuffer arrived as a copy' };
    return { ok: true };
  } catch (e) {
    return { ok: false, reason: `a SharedArrayBuffer cannot be posted to a worker (${e instanceof Error ? e.message : String(e)})` };
  } finally {
    clearTimeout(timer);
    // an open port keeps Node's event loop alive
    port1.close();
    port2.close();
  }
}

// ---- WebGPU ---------------------------------------------------------------------------------------

export interface FoundGPU {
  gpu: GPU;
  /** Where the implementation came from. */
  source: 'navigator.gpu' | 'webgpu (Dawn for Node)';
}

/**
 * navigator.gpu in browsers and Deno (--unstable-webgpu), else in Node the optional `webgpu`
 * package (Dawn), loaded lazily and created with `dawnFlags`. Rejects with errors.noAdapter's
 * Error naming what is missing.
 */
export async function findGPU(dawnFlags: string[] = []): Promise<FoundGPU> {
  const g = globalThis as { navigator?: { gpu?: GPU }; Deno?: unknown };
  if (g.navigator?.gpu) return { gpu: g.navigator.gpu, source: 'navigator.gpu' };
  if (g.Deno) throw errors.noAdapter('navigator.gpu is missing (Deno needs --unstable-webgpu)');
  if (!isNode) throw errors.noAdapter('navigator.gpu is missing (this browser has no WebGPU)');
  let mod: { create(flags: string[]): GPU };
  try {
    const name = 'webgpu'; // a variable, so that bundlers leave the optional dependency alone
    mod = (await import(name)) as typeof mod;
  } catch (e) {
    throw errors.noAdapter(`navigator.gpu is missing and the optional package 'webgpu' did not load (${(e as Error).message.split('\n')[0]})`);
  }
  return { gpu: mod.create(dawnFlags), source: 'webgpu (Dawn for Node)' };
}

export type AdapterProbe =
  | { available: true; description: string; source: FoundGPU['source'] }
  | { available: false; reason: string };

/**
 * Is there a WebGPU adapter? Requests one, with a deadline, but never a device: on Linux/Vulkan,
 * Dawn's requestDevice() starts a busy poll of about one core that would skew CPU timings
 * (PITFALLS.md, dawn-gpu/node-webgpu#17).
 *
 * `quiet` (Node with Dawn only): ask in a child Node process. Dawn writes why it refused an adapter
 * ("Vulkan shaderUniform*ArrayDynamicIndexing required", "Found no drivers") from native code to
 * stderr, where JavaScript cannot catch it; the child's stderr is read back and said in `reason`.
 */
export async function probeAdapter(options: { timeoutMs?: number; quiet?: boolean } = {}): Promise<AdapterProbe> {
  const timeoutMs = options.timeoutMs ?? 5000;
  if (options.quiet && isNode && !(globalThis as { navigator?: { gpu?: unknown } }).navigator?.gpu) return probeInChild(timeoutMs);
  let found: FoundGPU;
  try {
    found = await findGPU();
  } catch (e) {
    return { available: false, reason: (e as Error).message.replace(/^.*no adapter was found: /, '') };
  }
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    const adapter = await Promise.race([
      found.gpu.requestAdapter(),
      new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), timeoutMs))),
    ]);
    if (adapter === 'timeout') return { available: false, reason: `requestAdapter() did not answer within ${timeoutMs} ms` };
    if (!adapter) return { available: false, reason: `requestAdapter() found no adapter (${found.source})` };
    const info = (adapter as GPUAdapter & { info?: GPUAdapterInfo }).info;
    const description = [info?.vendor, info?.architecture, info?.device, info?.description].filter(Boolean).join(' ') || 'an adapter';
    return { available: true, description, source: found.source };
  } catch (e) {
    return { available: false, reason: `requestAdapter() failed: ${(e as Error).message}` };
  } finally {
    clearTimeout(timer);
  }
}

/** Dawn's native warnings, in words: what it found and why it gave no adapter. */
export function describeDawnLog(stderr: string): string | undefined {
  if (/ArrayDynamicIndexing required/.test(stderr)) {
    return 'Dawn found a Vulkan device but refused it: it lacks the shader*ArrayDynamicIndexing features Dawn requires (software Vulkan such as Mesa\'s lavapipe lacks them)';
  }
  if (/Found no drivers|VK_ERROR_INCOMPATIBLE_DRIVER/.test(stderr)) return 'Dawn found no Vulkan driver (no GPU, or no Vulkan ICD installed)';
  const first = stderr.split('\n').find((l) => /^(Warning|Error):/.test(l.trim()));
  return first ? `Dawn said: ${first.trim().replace(/^(Warning|Error):\s*/, '')}` : undefined;
}

async function probeInChild(timeoutMs: number): Promise<AdapterProbe> {
  const { execFile } = await import('node:child_process');
  // Dawn keeps Node alive while its GPU object lives: the child exits explicitly.
  const code = `import { probeAdapter } from ${JSON.stringify(import.meta.url)};
process.stdout.write(JSON.stringify(await probeAdapter({ timeoutMs: ${timeoutMs} })));
process.exit(0);`;
  return new Promise<AdapterProbe>((resolve) => {
    execFile(
      process.execPath,
      [...process.execArgv, '--input-type=module', '-e', code],
      { timeout: timeoutMs + 10000, env: process.env, encoding: 'utf8' },
      (error, stdout, stderr) => {
        let result: AdapterProbe | undefined;
        try {
          result = JSON.parse(stdout) as AdapterProbe;
        } catch {
          result = undefined;
        }
        const dawn = describeDawnLog(stderr);
        if (result?.available) return resolve(result);
        if (result) return resolve({ available: false, reason: dawn ? `${result.reason}: ${dawn}` : result.reason });
        const why = error?.killed ? `did not answer within ${timeoutMs + 10000} ms` : `exited with ${error?.code ?? 'no result'}`;
        resolve({ available: false, reason: `the adapter probe (a child Node process) ${why}${dawn ? `: ${dawn}` : ''}` });
      },
    );
  });
}
