// bench/select-blocks.ts --decode (issue 17's decode part): decode steps against a KV cache of N
// tokens that keeps key summaries (createKvCache's summaryBlock), B 1, H 8 query heads over Hkv kv
// heads, D 64, block 64. The keys and values are bench/planted-matches.ts's, with plants only in the
// last block row (the decode queries' own): `plants` far key blocks per head that only content finds.
// The cache is filled with N − steps tokens, then each step appends one token and queries from its
// position (kv head g's query row, for each of its query heads), and for each setting (score 'mean'
// or 'bound', topK) times:
// - selectBlocks over the cache (causal, keep first 1 and local 1), which reads the summaries, and
//   the same over a cache without summaries (its keys pooled on the fly);
// - attention over the cache with the selected layout (a fresh selection each call, as each step's
//   is: its compile included), and over a plain copy of its bytes (compiled from the bytes alone,
//   as any layout new to attention is), against dense attention over the cache (its static layout
//   compiled once);
// recall: the share of planted blocks kept; mass: engine.attentionMass of the step's query (mean and
// 5th percentile over heads and steps). Append cost: one token into the cache with summaries and into
// the one without (medians over `append-reps` appends), and the fill of N − steps tokens in chunks.
// Times are medians of `reps` calls after a warm-up, per step, then the median over the steps.
import { deviceFence, loopIterationMs, selectionLoopMs, median, medianByName, medianCallTimes, quantileSample, type CallTimes } from '../cli/stats.js';
import { WARM_MS } from './gpu/kernel-timing.js';
import { fmt, textTable } from '../cli/table.js';
import { writeJson } from '../cli/write-json.js';
import { createEngine, type BatchedLayout, type DeviceLayout, type Engine, type KvCache, type Layout, type Tensor } from '../src/index.js';
import { selectedLayout, selectedRows } from '../src/layouts/selected-layout.js';
import { taskTuning } from '../src/cpu/tasks.js';
import { plantedInputs, type PlantedInputs } from './planted-matches.js';
import { machineInfo } from './report/ort-tables.js';

export interface DecodeOptions {
  backend: 'cpu' | 'webgpu';
  threads: number | undefined;
  lengths: number[];
  kvHeads: number;
  topKs: number[];
  plants: number;
  beta: number;
  steps: number;
  reps: number;
  appendReps: number;
  chunk: number;
  /** taskTuning.minTaskBytes for this run (undefined: the library's). */
  minTaskBytes: number | undefined;
  machine: string;
  shared: boolean;
  out: string;
  /** WebGPU: iterations of the loop measurement (0: none). */
  loop: number;
}

const [H, D, block] = [8, 64, 64];
const scores = ['mean', 'bound'] as const;

interface DecodeRow {
  N: number;
  score: 'mean' | 'bound';
  topK: number;
  recall: number;
  keptPerRow: number;
  massMean: number;
  massP5: number;
  selectMs: number;
  selectPooledMs: number;
  sparseMs: number;
  /** The same attention over a plain copy of the selected bytes (compiled from the bytes alone). */
  sparseCopiedMs: number;
  denseMs: number;
  speedup: number;
  selectShare: number;
  /** The same from kernel time (engine.lastTimings.kernelMs; null where not measured). */
  selectKernelMs: number | null;
  sparseKernelMs: number | null;
  denseKernelMs: number | null;
  kernelSpeedup: number | null;
  /** Per kernel name, the median over the steps of each one's time in a selection (null where not measured). */
  selectKernels: Record<string, number> | null;
  sparseKernels: Record<string, number> | null;
  /**
   * The step with the selection held (selectBlocks with keepOnDevice, then attention over it, then
   * destroy): on the CPU the attention makes the selection in its own call (src/cpu/held-selection.ts),
   * so its kernel time is the whole step's (null on WebGPU, which times the attention alone); dense / step.
   */
  heldStepMs: number;
  heldKernelMs: number | null;
  heldSpeedup: number;
  /**
   * With loop: ms per step as an app's loop runs it (an engine with timings off, q on the device,
   * steps back to back, then a 16-byte read): selection + attention, attention alone over a held selection,
   * dense attention; and dense / (selection + attention).
   */
  loopBothMs?: number;
  loopSparseMs?: number;
  loopDenseMs?: number;
  loopSpeedup?: number;
}

interface AppendCost {
  N: number;
  /** One token, with and without summaries. */
  tokenMs: number;
  tokenPlainMs: number;
  /** N − steps tokens in chunks of `chunk`. */
  fillMs: number;
  fillPlainMs: number;
}

/** Tokens from … to − 1 of every head of x [Hkv, N, D] (batch 1), as [1, Hkv, to − from, D]. */
function tokens(x: Float32Array, Hkv: number, N: number, from: number, to: number): Tensor {
  const n = to - from;
  const out = new Float32Array(Hkv * n * D);
  for (let g = 0; g < Hkv; g++) out.set(x.subarray((g * N + from) * D, (g * N + to) * D), g * n * D);
  return { data: out, shape: [1, Hkv, n, D] };
}

/**
 * The loop figures of N's rows (WebGPU): a fresh engine with timings off, its own cache with
 * summaries filled with the N tokens, the query of position N − 1 uploaded once; steps of dense
 * attention, of selection + attention, and of attention over one held selection.
 */
async function decodeLoops(o: DecodeOptions, N: number, inputs: PlantedInputs, rows: DecodeRow[]): Promise<void> {
  const Hkv = o.kvHeads;
  const group = H / Hkv;
  const engine = await createEngine({ backend: 'webgpu', timings: false });
  let cache: KvCache | null = null;
  try {
    cache = await engine.createKvCache({ batch: 1, kvHeads: Hkv, headDim: D, capacity: N, summaryBlock: block });
    for (let at = 0; at < N; at += o.chunk) {
      const to = Math.min(N, at + o.chunk);
      await cache.append({ k: tokens(inputs.k, Hkv, N, at, to), v: tokens(inputs.v, Hkv, N, at, to) });
    }
    const at = N - 1;
    const qData = new Float32Array(H * D);
    for (let h = 0; h < H; h++) qData.set(inputs.q.subarray((Math.floor(h / group) * N + at) * D, (Math.floor(h / group) * N + at + 1) * D), h * D);
    const q = await engine.upload({ data: qData, shape: [1, H, 1, D] });
    const R = Math.ceil(N / block);
    const dense: Layout = { block, shape: [1, R, R], data: new Uint8Array(R * R).fill(1) };
    const kv = cache;
    const attend = (layout: Layout | DeviceLayout) => engine.attention({ q, kv, layout, causal: true, keepOnDevice: true });
    const fence = await deviceFence(engine);
    const denseMs = await loopIterationMs(o.loop, () => attend(dense), fence);
    for (const score of scores) {
      for (const topK of o.topKs) {
        const row = rows.find((r) => r.N === N && r.score === score && r.topK === topK);
        if (!row) continue;
        const args = { q, kv, topK, score, causal: true, keep: { first: 1, local: 1 }, keepOnDevice: true as const };
        const { sparseMs, bothMs } = await selectionLoopMs(o.loop, () => engine.selectBlocks(args), attend, fence);
        Object.assign(row, { loopBothMs: bothMs, loopSparseMs: sparseMs, loopDenseMs: denseMs, loopSpeedup: denseMs / bothMs });
        console.log(`  loop ${score} topK ${topK}: select + sparse ${fmt.ms(bothMs)} ms a step, sparse alone ${fmt.ms(sparseMs)} ms, dense ${fmt.ms(denseMs)} ms: ${fmt.x(denseMs / bothMs)}`);
      }
    }
  } finally {
    cache?.destroy();
    await engine.close();
  }
}

export async function selectBlocksDecode(o: DecodeOptions): Promise<void> {
  const { kvHeads: Hkv, reps } = o;
  if (o.minTaskBytes !== undefined) taskTuning.minTaskBytes = o.minTaskBytes;
  if (H % Hkv !== 0) throw new RangeError(`--kv-heads must divide ${H}, got ${Hkv}`);
  const group = H / Hkv;
  // on WebGPU each timed call after WARM_MS of the same call (the GPU's clocks up)
  const timed = (f: () => Promise<unknown>, warm = true): Promise<CallTimes> => medianCallTimes(engine, f, reps, warm && o.backend === 'webgpu' ? WARM_MS : 0);
  /** Medians over the steps: of the wall times, and of the kernel times where every step measured them. */
  const wallOf = (ts: CallTimes[]) => median(ts.map((t) => t.wallMs));
  const kernelOf = (ts: CallTimes[]) => (ts.every((t) => t.kernelMs !== null) ? median(ts.map((t) => t.kernelMs!)) : null);
  const kernelsOf = (ts: CallTimes[]) => (ts.every((t) => t.kernels) ? medianByName(ts.map((t) => t.kernels!)) : null);

  const rows: DecodeRow[] = [];
  const appends: AppendCost[] = [];
  const doc = () => ({
    bench: 'select-blocks', mode: 'decode', backend: o.backend, threads: o.threads ?? null, H, Hkv, D, block, plants: o.plants, beta: o.beta,
    steps: o.steps, reps, appendReps: o.appendReps, minTaskBytes: o.backend === 'cpu' ? taskTuning.minTaskBytes : null, machine: machineInfo(o.machine, o.shared), rows, appends,
  });
  const engine: Engine = await createEngine(o.backend === 'cpu' ? { backend: o.backend, threads: o.threads } : { backend: o.backend });
  console.log(`backend ${engine.backend}${o.backend === 'cpu' ? `, ${engine.info.threads} threads` : ''}; decode steps, Hkv ${Hkv}`);
  for (const N of o.lengths) {
    const R = Math.ceil(N / block);
    // kv heads are the planted inputs' heads; query head h asks with its kv head's query row
    const inputs = plantedInputs({ H: Hkv, N, D, block, plants: o.plants, beta: o.beta, seed: 17 + N, firstPlantedRow: R - 1 });
    const capacity = N + o.appendReps;
    const options = { batch: 1, kvHeads: Hkv, headDim: D, capacity };
    let summarized: KvCache | null = null;
    let plain: KvCache | null = null;
    try {
      summarized = await engine.createKvCache({ ...options, summaryBlock: block });
      plain = await engine.createKvCache(options);
      const first = N - o.steps;
      const fill = async (cache: KvCache) => {
        const t0 = performance.now();
        for (let at = 0; at < first; at += o.chunk) {
          const to = Math.min(first, at + o.chunk);
          await cache.append({ k: tokens(inputs.k, Hkv, N, at, to), v: tokens(inputs.v, Hkv, N, at, to) });
        }
        return performance.now() - t0;
      };
      const fillMs = await fill(summarized);
      const fillPlainMs = await fill(plain);
      console.log(`N ${fmt.n(N)}: filled ${fmt.n(first)} tokens, ${fmt.ms(fillMs)} ms with summaries, ${fmt.ms(fillPlainMs)} ms without`);
      const k: Tensor = { data: inputs.k, shape: [1, Hkv, N, D] };
      const dense: Layout = { block, shape: [1, R, R], data: new Uint8Array(R * R).fill(1) };
      const per = new Map<string, { recall: number[]; kept: number[]; mass: number[]; select: CallTimes[]; pooled: number[]; sparse: CallTimes[]; copied: number[]; held: CallTimes[] }>();
      const denseTimes: CallTimes[] = [];
      for (let s = 0; s < o.steps; s++) {
        const at = first + s;
        const token = { k: tokens(inputs.k, Hkv, N, at, at + 1), v: tokens(inputs.v, Hkv, N, at, at + 1) };
        await summarized.append(token);
        await plain.append(token);
        const q = new Float32Array(H * D);
        for (let h = 0; h < H; h++) q.set(inputs.q.subarray((Math.floor(h / group) * N + at) * D, (Math.floor(h / group) * N + at + 1) * D), h * D);
        const qt: Tensor = { data: q, shape: [1, H, 1, D] };
        const cache = summarized;
        denseTimes.push(await timed(() => engine.attention({ q: qt, kv: cache, layout: dense, causal: true })));
        for (const score of scores) {
          for (const topK of o.topKs) {
            const args = { q: qt, topK, score, causal: true, keep: { first: 1, local: 1 } };
            const layout: BatchedLayout = await engine.selectBlocks({ ...args, kv: cache });
            const r = Math.floor(at / block);
            let found = 0, planted = 0, kept = 0;
            for (let h = 0; h < H; h++) {
              const row = (h * layout.shape[2] + r) * layout.shape[3];
              for (const c of inputs.plants[Math.floor(h / group)][r]) {
                planted++;
                found += layout.data[row + c];
              }
              for (let c = 0; c < layout.shape[3]; c++) kept += layout.data[row + c];
            }
            const mass = await engine.attentionMass({ q: qt, k, layout, causal: true, qOffset: at, keyLengths: Int32Array.of(at + 1) });
            const key = `${score} ${topK}`;
            const m = per.get(key) ?? { recall: [], kept: [], mass: [], select: [], pooled: [], sparse: [], copied: [], held: [] };
            per.set(key, m);
            m.recall.push(planted ? found / planted : 1);
            m.kept.push(kept / H);
            m.mass.push(...mass.data);
            m.select.push(await timed(() => engine.selectBlocks({ ...args, kv: cache })));
            const plainCache = plain;
            m.pooled.push((await timed(() => engine.selectBlocks({ ...args, kv: plainCache, block }))).wallMs);
            // a fresh selection per call, as each step's is: new to attention (compiled tables are cached by the layout)
            const rows = selectedRows(layout);
            if (!rows) throw new Error('selectBlocks over a KV cache returned no SelectedRows');
            m.sparse.push(await timed(() => engine.attention({ q: qt, kv: cache, layout: selectedLayout(rows), causal: true })));
            // and a plain copy of its bytes per call, which attention compiles from the bytes alone
            const copies = Array.from({ length: reps + 1 }, () => ({ ...layout, data: layout.data.slice() }));
            let next = 0;
            m.copied.push((await timed(() => engine.attention({ q: qt, kv: cache, layout: copies[next++], causal: true }), false)).wallMs);
            m.held.push(await timed(async () => {
              const held = await engine.selectBlocks({ ...args, kv: cache, keepOnDevice: true });
              await engine.attention({ q: qt, kv: cache, layout: held, causal: true });
              held.destroy();
            }));
          }
        }
        console.log(`  step ${s + 1}/${o.steps} (position ${at}): dense ${fmt.ms(denseTimes[s]!.wallMs)} ms`);
      }
      const [dMs, denseKernelMs] = [wallOf(denseTimes), kernelOf(denseTimes)];
      for (const score of scores) {
        for (const topK of o.topKs) {
          const m = per.get(`${score} ${topK}`)!;
          const [selectMs, selectPooledMs, sparseMs, sparseCopiedMs] = [wallOf(m.select), median(m.pooled), wallOf(m.sparse), median(m.copied)];
          const [selectKernelMs, sparseKernelMs] = [kernelOf(m.select), kernelOf(m.sparse)];
          rows.push({
            N, score, topK, recall: m.recall.reduce((a, b) => a + b, 0) / m.recall.length, keptPerRow: median(m.kept),
            massMean: m.mass.reduce((a, b) => a + b, 0) / m.mass.length, massP5: quantileSample(m.mass, 0.05),
            selectMs, selectPooledMs, sparseMs, sparseCopiedMs, denseMs: dMs, speedup: dMs / (selectMs + sparseMs), selectShare: selectMs / sparseMs,
            selectKernelMs, sparseKernelMs, denseKernelMs,
            kernelSpeedup: selectKernelMs === null || sparseKernelMs === null || denseKernelMs === null ? null : denseKernelMs / (selectKernelMs + sparseKernelMs),
            selectKernels: kernelsOf(m.select), sparseKernels: kernelsOf(m.sparse),
            heldStepMs: wallOf(m.held), heldKernelMs: o.backend === 'cpu' ? kernelOf(m.held) : null, heldSpeedup: dMs / wallOf(m.held),
          });
        }
      }
      // one token more into each cache, appendReps times (positions N …, noise tokens)
      const one = async (cache: KvCache) => {
        const ms: number[] = [];
        for (let i = 0; i < o.appendReps; i++) {
          const t = { k: tokens(inputs.k, Hkv, N, i, i + 1), v: tokens(inputs.v, Hkv, N, i, i + 1) };
          const t0 = performance.now();
          await cache.append(t);
          ms.push(performance.now() - t0);
        }
        return median(ms);
      };
      appends.push({ N, tokenMs: await one(summarized), tokenPlainMs: await one(plain), fillMs, fillPlainMs });
      if (o.backend === 'webgpu' && o.loop > 0) await decodeLoops(o, N, inputs, rows);
    } finally {
      summarized?.destroy();
      plain?.destroy();
    }
    await writeJson(o.out, doc());
  }
  await engine.close();
  await writeJson(o.out, doc());
  const looped = rows.some((r) => r.loopBothMs !== undefined);
  const table = {
    headers: ['N', 'score', 'topK', 'blocks/row', 'recall', 'mass mean', 'mass p5', 'select ms', 'select pooled ms', 'sparse ms', 'sparse copied ms', 'dense ms', 'speedup', 'select share',
      'select kernels', 'sparse kernels', 'dense kernels', 'kernel speedup', 'held step ms', 'held kernels', 'held speedup', ...(looped ? ['loop select+sparse', 'loop sparse', 'loop dense', 'loop speedup'] : [])],
    align: ['r', 'l', ...Array<'r'>(19 + (looped ? 4 : 0)).fill('r')] as Array<'l' | 'r'>,
    rows: rows.map((r) => [
      fmt.n(r.N), r.score, String(r.topK), r.keptPerRow.toFixed(1), fmt.pct(r.recall), r.massMean.toFixed(3), r.massP5.toFixed(3),
      fmt.ms(r.selectMs), fmt.ms(r.selectPooledMs), fmt.ms(r.sparseMs), fmt.ms(r.sparseCopiedMs), fmt.ms(r.denseMs), fmt.x(r.speedup), fmt.pct(r.selectShare),
      fmt.ms(r.selectKernelMs ?? undefined), fmt.ms(r.sparseKernelMs ?? undefined), fmt.ms(r.denseKernelMs ?? undefined), fmt.x(r.kernelSpeedup ?? undefined),
      fmt.ms(r.heldStepMs), fmt.ms(r.heldKernelMs ?? undefined), fmt.x(r.heldSpeedup),
      ...(looped ? [fmt.ms(r.loopBothMs), fmt.ms(r.loopSparseMs), fmt.ms(r.loopDenseMs), fmt.x(r.loopSpeedup)] : []),
    ]),
  };
  const appendTable = {
    headers: ['N', 'append 1 token ms', 'without summaries', 'fill ms', 'fill without summaries'],
    align: ['r', 'r', 'r', 'r', 'r'] as Array<'l' | 'r'>,
    rows: appends.map((a) => [fmt.n(a.N), fmt.ms(a.tokenMs), fmt.ms(a.tokenPlainMs), fmt.ms(a.fillMs), fmt.ms(a.fillPlainMs)]),
  };
  console.log(`\n${textTable(table)}\n\n${textTable(appendTable)}\nwrote ${o.out}`);
}
