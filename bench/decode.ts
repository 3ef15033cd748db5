// Decode and chunked prefill: a few queries at the end of a long key sequence, as a generation step
// or a prefill chunk makes them (Phi-3-small's shape: Hq 32, Hkv 8, D 128, block 64, its pattern,
// causal). Keys and queries are DeviceTensors uploaded once and outputs stay on the backend, so the
// time is the op; bytes/s count the K and V blocks the layout keeps for the queries' block rows,
// read once per kv head (the roofline of decode is memory).
// With --timings off (WebGPU) no timestamps are read and a call does not wait for its kernels: the
// wall time is then the per-call cost a decode loop pays (the kernels overlap the next call).
//   node --import tsx bench/decode.ts [--backend cpu|webgpu] [--threads N] [--Nk 8192] [--Nq 1,16,512] [--rounds 7] [--timings on|off] [--out f.json]
import { parseFlags } from '../cli/flags.js';
import { mulberry32, uniformFloats } from '../cli/random.js';
import { median } from '../cli/stats.js';
import { writeJson } from '../cli/write-json.js';
import { Phi3SmallSparsityConfig, compileLayout, createEngine, type DeviceTensor, type Engine } from '../src/index.js';

const flags = parseFlags({ backend: 'string', threads: 'int', Nk: 'int', Nq: 'list', rounds: 'int', timings: 'string', out: 'string' });
const backend = flags.string('backend', 'cpu') as 'cpu' | 'webgpu';
const [B, H, Hkv, D, block] = [1, 32, 8, 128, 64];
const Nk = flags.int('Nk', 8192);
const queryCounts = flags.ints('Nq', [1, 16, 512]);
const rounds = flags.int('rounds', 7);
const timings = flags.string('timings', 'on') !== 'off';
const engine: Engine = await createEngine(backend === 'cpu' ? { backend, threads: flags.int('threads', 1) } : { backend, timings });
const layout = new Phi3SmallSparsityConfig({ numHeads: H, block }).makeLayout(Math.ceil(Nk / block) * block);
const rng = mulberry32(15);
const k = await engine.upload({ data: uniformFloats(B * Hkv * Nk * D, rng), shape: [B, Hkv, Nk, D] });
const v = await engine.upload({ data: uniformFloats(B * Hkv * Nk * D, rng), shape: [B, Hkv, Nk, D] });

/** Kept blocks of the block rows the last Nq positions fall in, per layout head, causal. */
function keptBlocks(Nq: number): number {
  const L = compileLayout(layout);
  const r0 = Math.floor((Nk - Nq) / block);
  const r1 = Math.floor((Nk - 1) / block);
  let n = 0;
  for (let h = 0; h < H; h++) for (let r = r0; r <= r1; r++) n += L.rowBlocks[h * L.rows + r];
  return n;
}

const results: Record<string, unknown>[] = [];
for (const Nq of queryCounts) {
  const q = await engine.upload({ data: uniformFloats(B * H * Nq * D, rng), shape: [B, H, Nq, D] });
  const call = async () => {
    const t0 = performance.now();
    const out = (await engine.attention({ q, k, v, layout, causal: true, keepOnDevice: true })) as DeviceTensor;
    const wall = performance.now() - t0;
    out.destroy();
    return { wall, kernel: engine.lastTimings?.kernelMs ?? null };
  };
  await call();
  const wall: number[] = [];
  const kernel: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const t = await call();
    wall.push(t.wall);
    if (t.kernel !== null) kernel.push(t.kernel);
  }
  const ms = backend === 'webgpu' && kernel.length ? median(kernel) : median(wall);
  const blocks = keptBlocks(Nq);
  // K and V of each kept block, read once per kv head (query heads of a group share them); at most all of K and V
  const kvBytes = Math.min(blocks / (H / Hkv), B * Hkv * Math.ceil(Nk / block)) * 2 * block * D * 4;
  const row = { backend, timings, threads: engine.info.threads ?? null, B, H, Hkv, Nq, Nk, D, block, keptBlocks: blocks, ms, wallMs: median(wall), kvGBps: kvBytes / ms / 1e6 };
  results.push(row);
  console.log(`${backend} Nq ${String(Nq).padStart(4)} × Nk ${Nk}: ${ms.toFixed(2)} ms, K/V ${row.kvGBps.toFixed(1)} GB/s`);
  q.destroy();
}
await engine.close();
const out = flags.string('out');
if (out) await writeJson(out, { layout: 'Phi3SmallSparsityConfig', results });
