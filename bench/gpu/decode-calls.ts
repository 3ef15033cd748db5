// Benchmark (not a test): where a WebGPU decode step's host time goes, as an app's loop runs it
// (timings off, each step's outputs destroyed after the next, one small read at the end). Per step:
// the time inside each WebGPU call the engine makes (the sync part), how long its promises take to
// resolve (popErrorScope, mapAsync), and the loop's time a step; selection + sparse attention and
// dense attention over a KV cache with summaries, each with the Recorder's error scopes awaited per
// op and deferred (recorderTuning.deferChecks), side by side. B1 H8 D64 block 64, topK 16.
// Run on the GPU machine: node .device/gpu/decode-calls.mjs [--n 131072] [--steps 40]
import { parseFlags } from '../../cli/flags.js';
import { uniformFloats } from '../../cli/random.js';
import { median } from '../../cli/stats.js';
import { createEngine, type DeviceLayout, type DeviceTensor, type Layout } from '../../src/index.js';
import { recorderTuning } from '../../gpu/context.js';

const flags = parseFlags({ n: 'int', steps: 'int' });
const N = flags.int('n', 131072);
const steps = flags.int('steps', 40);
const [H, D, block, chunk] = [8, 64, 64, 8192];

// the GPU* classes, to wrap their methods (Dawn for Node provides them as `globals`)
const g = globalThis as Record<string, unknown>;
if (typeof g.GPUDevice === 'undefined') Object.assign(g, (await import('webgpu')).globals);
const sync = new Map<string, { calls: number; ms: number }>();
const resolves = new Map<string, number[]>();
let recording = false;
for (const name of ['GPUDevice', 'GPUQueue', 'GPUCommandEncoder', 'GPUComputePassEncoder', 'GPUBuffer']) {
  const proto = (g[name] as { prototype?: Record<string, unknown> } | undefined)?.prototype;
  if (!proto) continue;
  for (const key of Object.getOwnPropertyNames(proto)) {
    const d = Object.getOwnPropertyDescriptor(proto, key);
    if (!d || typeof d.value !== 'function' || key === 'constructor') continue;
    const f = d.value as (...a: unknown[]) => unknown;
    const label = `${name}.${key}`;
    proto[key] = function (this: unknown, ...a: unknown[]) {
      if (!recording) return f.apply(this, a);
      const t0 = performance.now();
      const r = f.apply(this, a);
      const s = sync.get(label) ?? { calls: 0, ms: 0 };
      s.calls++;
      s.ms += performance.now() - t0;
      sync.set(label, s);
      if (r instanceof Promise) {
        r.then(
          () => (resolves.get(label) ?? resolves.set(label, []).get(label)!).push(performance.now() - t0),
          () => undefined,
        );
      }
      return r;
    };
  }
}

const engine = await createEngine({ backend: 'webgpu', timings: false });
try {
  const kv = await engine.createKvCache({ batch: 1, kvHeads: H, headDim: D, capacity: N, summaryBlock: block });
  const tokens = uniformFloats(H * chunk * D, 1);
  for (let at = 0; at < N; at += chunk) {
    const part = { data: tokens.subarray(0, H * Math.min(chunk, N - at) * D), shape: [1, H, Math.min(chunk, N - at), D] };
    await kv.append({ k: part, v: part });
  }
  const q = await engine.upload({ data: uniformFloats(H * D, 2), shape: [1, H, 1, D] });
  // dense: every block of the causal cache (its tables compiled once, cached across steps)
  const R = Math.ceil(N / block);
  const full: Layout = { block, shape: [1, R, R], data: new Uint8Array(R * R).fill(1) };
  type Out = { out: DeviceTensor; layout?: DeviceLayout };
  const sparse = async (calls: number[][]): Promise<Out> => {
    const t0 = performance.now();
    const layout = await engine.selectBlocks({ q, kv, topK: 16, causal: true, keep: { first: 1, local: 1 }, keepOnDevice: true });
    const t1 = performance.now();
    const out = await engine.attention({ q, kv, layout, causal: true, keepOnDevice: true });
    calls.push([t1 - t0, performance.now() - t1]);
    return { out, layout };
  };
  const dense = async (calls: number[][]): Promise<Out> => {
    const t0 = performance.now();
    const out = await engine.attention({ q, kv, layout: full, causal: true, keepOnDevice: true });
    calls.push([0, performance.now() - t0]);
    return { out };
  };
  const drop = (o: Out | null) => {
    o?.out.destroy();
    o?.layout?.destroy();
  };
  for (const round of [1, 2]) {
    for (const defer of [false, true]) {
      recorderTuning.deferChecks = defer;
      for (const [name, step] of [['select + sparse', sparse], ['dense', dense]] as const) {
        for (let i = 0; i < 5; i++) {
          const o = await step([]);
          await o.out.read();
          drop(o);
        }
        sync.clear();
        resolves.clear();
        const calls: number[][] = [];
        recording = true;
        const t0 = performance.now();
        let last: Out | null = null;
        for (let i = 0; i < steps; i++) {
          const o = await step(calls);
          drop(last);
          last = o;
        }
        await last!.out.read();
        const loopMs = (performance.now() - t0) / steps;
        recording = false;
        drop(last);
        const callMs = (i: number) => median(calls.map((c) => c[i]!)).toFixed(3);
        console.log(`round ${round}, scopes ${defer ? 'deferred' : 'awaited'}, ${name}: ${loopMs.toFixed(3)} ms a step in the loop; calls return after ${name === 'dense' ? '' : `${callMs(0)} (select), `}${callMs(1)} ms (attention), medians`);
        let total = 0;
        for (const [label, s] of [...sync].sort((a, b) => b[1].ms - a[1].ms)) {
          total += s.ms;
          if (s.ms / steps >= 0.002) console.log(`    ${((s.ms / steps) * 1000).toFixed(1).padStart(7)} us a step in ${(s.calls / steps).toFixed(1)} × ${label}`);
        }
        console.log(`    ${((total / steps) * 1000).toFixed(1).padStart(7)} us a step inside WebGPU calls`);
        for (const [label, ms] of resolves) console.log(`    ${label} resolves after ${median(ms).toFixed(3)} ms (median of ${ms.length})`);
      }
    }
  }
} finally {
  await engine.close();
}
