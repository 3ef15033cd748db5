// The package under Deno, as a Deno user gets it: imported by relative path (dist/, the built
// JavaScript; and src/, the TypeScript, which needs --unstable-sloppy-imports for its './x.js'
// specifiers), the CPU engine on one thread and on Web Workers, and WebGPU on whatever adapter Deno
// finds (Mesa's lavapipe in CI), each checked against the float64 reference of test/reference/. Run:
//   XDG_RUNTIME_DIR=/tmp node_modules/.bin/deno test --unstable-webgpu --unstable-sloppy-imports -A test/deno/
// (`npm:blocksparse` needs the registry, so it is not tested offline.) uvu's file pattern picks
// this file up under Node too: it then registers nothing.
import type { AttentionArgs } from '../../src/types.js';
import { assertClose, CPU_TOL, GPU_TOL, mulberry32, randomTensor, referenceAttention, type Tolerance } from '../reference/index.js';

const inDeno = typeof (globalThis as { Deno?: unknown }).Deno !== 'undefined';

type Module = typeof import('../../src/index.ts');
type Engine = Awaited<ReturnType<Module['createEngine']>>;

function check(ok: unknown, message: string): asserts ok {
  if (!ok) throw new Error(message);
}

const distUrl = new URL('../../dist/src/index.js', import.meta.url);

async function importDist(): Promise<Module> {
  try {
    await Deno.stat(distUrl);
  } catch {
    throw new Error(`${distUrl.pathname} is missing: run npm run build first`);
  }
  return (await import(distUrl.href)) as Module;
}

/**
 * A case with every kind of block: a band, a global first column, a block row with nothing kept
 * (its outputs must be zeros, never NaN), and different heads.
 */
function mixedCase(causal: boolean, seed = 7): AttentionArgs {
  const B = 2, H = 2, N = 64, D = 16, block = 16;
  const nb = N / block;
  const layout = new Uint8Array(H * nb * nb);
  for (let h = 0; h < H; h++) {
    for (let r = 0; r < nb; r++) {
      for (let c = 0; c < nb; c++) {
        const keep = h === 0 ? Math.abs(r - c) <= 1 || c === 0 : c <= r && r !== 2;
        layout[(h * nb + r) * nb + c] = keep ? 1 : 0;
      }
    }
  }
  const shape = [B, H, N, D];
  return {
    q: randomTensor(shape, mulberry32(seed)),
    k: randomTensor(shape, mulberry32(seed + 1)),
    v: randomTensor(shape, mulberry32(seed + 2)),
    layout: { block, shape: [H, nb, nb], data: layout },
    causal,
  };
}

/** Runs attention on both cases (causal or not) and checks them against float64. */
async function checkAttention(engine: Engine, tol: Tolerance, label: string): Promise<Float32Array[]> {
  const outs: Float32Array[] = [];
  for (const causal of [false, true]) {
    const inputs = mixedCase(causal);
    const qBefore = inputs.q.data.slice();
    const out = await engine.attention(inputs);
    check(out.data instanceof Float32Array, `${label}: out.data is not a Float32Array`);
    check(JSON.stringify(out.shape) === JSON.stringify(inputs.q.shape), `${label}: out.shape is ${JSON.stringify(out.shape)}`);
    check(inputs.q.data.every((x, i) => Object.is(x, qBefore[i])), `${label}: the input q was modified`);
    assertClose(out.data, referenceAttention(inputs), { ...tol, label: `${label} (causal ${causal})` });
    outs.push(out.data);
  }
  return outs;
}

async function withEngine<T>(module: Module, options: Parameters<Module['createEngine']>[0], body: (engine: Engine) => Promise<T>): Promise<T> {
  const engine = await module.createEngine(options);
  try {
    return await body(engine);
  } finally {
    await engine.close();
  }
}

async function hasAdapter(): Promise<boolean> {
  const gpu = (navigator as { gpu?: GPU }).gpu;
  if (!gpu) return false;
  return (await gpu.requestAdapter()) !== null;
}

const bitwiseEqual = (a: Float32Array, b: Float32Array) =>
  a.length === b.length && new Uint32Array(a.buffer, a.byteOffset, a.length).every((x, i) => x === new Uint32Array(b.buffer, b.byteOffset, b.length)[i]);

if (inDeno) {
  Deno.test('dist/src/index.js imports by relative path', async () => {
    const m = await importDist();
    check(typeof m.createEngine === 'function', 'createEngine is not exported');
    const engine = await m.createEngine({ backend: 'cpu', threads: 1 });
    try {
      check(engine.backend === 'cpu', `backend is ${engine.backend}`);
      check(Array.isArray(engine.info.fallbacks), 'engine.info.fallbacks is not an array');
      check(engine.info.simd === 'relaxed' || engine.info.simd === 'simd', `engine.info.simd is ${String(engine.info.simd)}`);
    } finally {
      await engine.close();
    }
  });

  Deno.test('src/index.ts imports with --unstable-sloppy-imports and computes', async () => {
    const m = (await import('../../src/index.ts')) as Module;
    await withEngine(m, { backend: 'cpu', threads: 1 }, (e) => checkAttention(e, CPU_TOL, 'src, cpu, 1 thread'));
  });

  Deno.test('cpu engine, 1 thread: matches float64', async () => {
    const m = await importDist();
    await withEngine(m, { backend: 'cpu', threads: 1 }, async (engine) => {
      check(engine.info.threads === 1, `engine.info.threads is ${String(engine.info.threads)}`);
      await checkAttention(engine, CPU_TOL, 'cpu, 1 thread');
    });
  });

  Deno.test('cpu engine, 2 threads on Web Workers: matches float64, bitwise equal to 1 thread', async () => {
    const m = await importDist();
    const one = await withEngine(m, { backend: 'cpu', threads: 1 }, (e) => checkAttention(e, CPU_TOL, 'cpu, 1 thread'));
    const two = await withEngine(m, { backend: 'cpu', threads: 2 }, async (engine) => {
      check(
        engine.info.threads === 2,
        `engine.info.threads is ${String(engine.info.threads)}, expected 2 Web Workers (fallbacks: ${JSON.stringify(engine.info.fallbacks)})`,
      );
      return checkAttention(engine, CPU_TOL, 'cpu, 2 threads');
    });
    two.forEach((out, i) => check(bitwiseEqual(out, one[i]), `2 threads differ from 1 thread bitwise (case ${i})`));
  });

  // Dawn-free WebGPU: Deno's own (wgpu). The device's background work is not ours to sanitize.
  // With an adapter the engine must compute; without one it must reject naming it: one of the two
  // tests runs, the other is ignored saying why.
  const adapter = await hasAdapter();
  Deno.test({
    name: `webgpu engine (backend: 'webgpu'): matches float64${adapter ? '' : ' (ignored: no WebGPU adapter here)'}`,
    ignore: !adapter,
    sanitizeOps: false,
    sanitizeResources: false,
    async fn() {
      const m = await importDist();
      await withEngine(m, { backend: 'webgpu' }, async (engine) => {
        check(engine.backend === 'webgpu', `backend is ${engine.backend}`);
        await checkAttention(engine, GPU_TOL, 'webgpu');
      });
    },
  });

  Deno.test({
    name: `webgpu engine (backend: 'webgpu'): rejects naming the missing adapter${adapter ? ' (ignored: this machine has an adapter)' : ''}`,
    ignore: adapter,
    sanitizeOps: false,
    sanitizeResources: false,
    async fn() {
      const m = await importDist();
      let error: unknown;
      try {
        const e = await m.createEngine({ backend: 'webgpu' });
        await e.close();
      } catch (e) {
        error = e;
      }
      check(error instanceof Error && /adapter|webgpu/i.test(error.message), `expected an Error naming the missing adapter, got ${String(error)}`);
    },
  });

  Deno.test({
    name: "backend 'auto' takes WebGPU where there is an adapter, else the CPU and says why",
    sanitizeOps: false,
    sanitizeResources: false,
    async fn() {
      const m = await importDist();
      await withEngine(m, { backend: 'auto', threads: 1 }, async (engine) => {
        if (adapter) {
          check(engine.backend === 'webgpu', `backend is ${engine.backend} though an adapter exists (fallbacks: ${JSON.stringify(engine.info.fallbacks)})`);
        } else {
          check(engine.backend === 'cpu', `backend is ${engine.backend}`);
          check(engine.info.fallbacks.some((f) => /webgpu/i.test(f)), `no fallback note: ${JSON.stringify(engine.info.fallbacks)}`);
        }
        await checkAttention(engine, adapter ? GPU_TOL : CPU_TOL, `auto (${engine.backend})`);
      });
    },
  });
}
