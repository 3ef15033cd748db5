// Benchmark (not a test): where an app's loop of keepOnDevice attention calls spends its time on
// WebGPU with timings off: per call, the time until it returns; per loop, submitting and the final
// read of the last output (64k × 8 × 64 f32: its transfer is most of it); a held selection against
// its host bytes, destroying each output after the next call or keeping them all. B1 H8 D64 block 64,
// topK 16 over random q, k. Run on the GPU machine: node .device/gpu/loop-calls.mjs
import { uniformFloats } from '../../cli/random.js';
import { median } from '../../cli/stats.js';
import { createEngine, type BatchedLayout, type DeviceLayout, type DeviceTensor } from '../../src/index.js';
const engine = await createEngine({ backend: 'webgpu', timings: false });
const N = 65536, H = 8, D = 64, block = 64;
const [q, k, v] = await Promise.all([1, 2, 3].map((seed) => engine.upload({ data: uniformFloats(H * N * D, seed, 0.5), shape: [1, H, N, D] })));
const held = await engine.selectBlocks({ q, k, block, causal: true, keep: { diagonal: true }, topK: 16, keepOnDevice: true });
const host = await held.read();
async function loop(label: string, layout: DeviceLayout | BatchedLayout, destroyEach: boolean, n = 10): Promise<void> {
  for (let rep = 0; rep < 2; rep++) {
    const returns: number[] = [];
    const outs: DeviceTensor[] = [];
    const t0 = performance.now();
    for (let i = 0; i < n; i++) {
      const c0 = performance.now();
      const o = await engine.attention({ q, k, v, layout, causal: true, keepOnDevice: true });
      returns.push(performance.now() - c0);
      if (destroyEach) outs.pop()?.destroy();
      outs.push(o);
    }
    const t1 = performance.now();
    await outs[outs.length - 1]!.read();
    const t2 = performance.now();
    for (const o of outs) o.destroy();
    console.log(`${label}: ${((t2 - t0) / n).toFixed(2)} ms an iteration; calls return after median ${median(returns).toFixed(2)} ms (first ${returns[0]!.toFixed(2)}, max ${Math.max(...returns).toFixed(2)}); submitting took ${(t1 - t0).toFixed(1)} ms, the read ${(t2 - t1).toFixed(1)} ms`);
  }
}
await loop('warm-up', held, true, 3);
await loop('held layout, destroy each', held, true);
await loop('held layout, keep all', held, false);
await loop('host layout, destroy each', host, true);
const t0 = performance.now();
const one = await engine.attention({ q, k, v, layout: held, causal: true, keepOnDevice: true });
await one.read();
console.log(`one call + read: ${(performance.now() - t0).toFixed(2)} ms`);
one.destroy();
await engine.close();
