// Content-based layouts (issue 17): engine.selectBlocks judged on planted matches
// (bench/planted-matches.ts: queries whose keys are near-copies at random far blocks, plus local
// bands), B 1, H 8 (Hkv = H), D 64, block 64, causal, keep.diagonal. For each N and each setting
// (topK, threshold):
// - recall: the share of planted blocks (h, r, c) the layout keeps; kept: mean blocks per block row;
// - mass: engine.attentionMass of the last --mass-rows query rows (their dense pass is that many
//   rows, not N), mean and 5th percentile over those rows;
// - time: selectBlocks, then attention over its layout, against dense causal attention, on the same
//   backend (medians of --reps after a warm-up; on WebGPU each call after 150 ms of the same call, so
//   that the GPU's clocks are up); wall time, and kernel time where the backend measures it; select
//   share = selection / the sparse attention.
// Goals (issue 17): selection ≤ 10% of the attention it enables; at N 65536 with topK 16 (16 of
// 1024 block columns) selection + attention ≥ 20× faster than dense; recall ≥ 95% there.
// Writes the JSON first, then prints the table; --svg writes head 0's layout (topK 16, first N).
// --decode: decode steps against a KV cache with key summaries instead (bench/select-blocks-decode.ts;
// defaults N 131072, topK 16,32, plants 4; --kv-heads, --steps, --append-reps, --chunk; --min-task-bytes sets
// the CPU's taskTuning.minTaskBytes, the K/V reads worth a pool task).
//   node --import tsx bench/select-blocks.ts [--backend cpu|webgpu] [--n 32768,65536,131072] [--threads T]
//     [--topk 8,16,32] [--threshold 0.5,0.9] [--plants 1] [--beta 6] [--plant-rows 64] [--reps 3] [--mass-rows 256] [--no-dense]
//     [--resident (q, k, v uploaded once; selection and outputs kept on the device: no transfers timed)]
//     [--loop L (WebGPU, with --resident: also as an app's loop runs it, on an engine with timings off:
//       L iterations back to back, then a 16-byte read; selection + attention per iteration against the
//       attention alone over a held selection and against dense: the selection's cost is the difference;
//       topK settings only, as a threshold's selection reads its counts back)]
//     [--svg bench/results/select-blocks-layout.svg] [--machine "label"] [--shared] [--out bench/results/select-blocks-<backend>.json]
//     [--decode [--kv-heads 8] [--steps 4] [--append-reps 32] [--chunk 4096] [--min-task-bytes B] [--loop L (WebGPU: decode steps as an app's loop runs them)]]
import { writeFile } from 'node:fs/promises';
import { parseFlags } from '../cli/flags.js';
import { deviceFence, loopIterationMs, selectionLoopMs, medianCallTimes, quantileSample, type CallTimes } from '../cli/stats.js';
import { fmt, textTable } from '../cli/table.js';
import { writeJson } from '../cli/write-json.js';
import { createEngine, layoutToSVG, type BatchedLayout, type DeviceLayout, type DeviceTensor, type Engine, type Layout, type Tensor, type TensorInput } from '../src/index.js';
import { WARM_MS } from './gpu/kernel-timing.js';
import { plantedInputs, type PlantedInputs } from './planted-matches.js';
import { selectBlocksDecode } from './select-blocks-decode.js';
import { machineInfo } from './report/ort-tables.js';

const flags = parseFlags({
  backend: 'string', n: 'list', threads: 'int', topk: 'list', threshold: 'list', plants: 'int', beta: 'number', 'plant-rows': 'int', reps: 'int', 'mass-rows': 'int',
  'no-dense': 'bool', resident: 'bool', loop: 'int', svg: 'string', machine: 'string', shared: 'bool', out: 'string',
  decode: 'bool', 'kv-heads': 'int', steps: 'int', 'append-reps': 'int', chunk: 'int', 'min-task-bytes': 'int',
});
const decode = flags.bool('decode');
const backend = flags.string('backend', 'cpu') as 'cpu' | 'webgpu';
const lengths = flags.ints('n', decode ? [131072] : [32768, 65536, 131072]);
const threads = flags.has('threads') ? flags.int('threads', 1) : undefined;
const topKs = flags.ints('topk', decode ? [16, 32] : [8, 16, 32]);
const thresholds = flags.numbers('threshold', [0.5, 0.9]);
const plantsPerRow = flags.int('plants', decode ? 4 : 1);
/** The planted direction's norm (bench/planted-matches.ts): lower is harder to find. */
const beta = flags.number('beta', 6);
/** Query rows of a block that carry its plant (bench/planted-matches.ts). */
const plantRows = flags.int('plant-rows', 64);
const reps = flags.int('reps', 3);
const massRows = flags.int('mass-rows', 256);
const withDense = !flags.bool('no-dense');
/** q, k, v uploaded once, the selection and the outputs kept on the device: times without transfers. */
const resident = flags.bool('resident');
const svgFile = flags.string('svg');
/** Iterations of the loop measurement (0: none). */
const loop = backend === 'webgpu' && (resident || decode) ? flags.int('loop', 0) : 0;
const outFile = flags.string('out', `bench/results/select-blocks-${decode ? 'decode-' : ''}${backend}.json`);
const [H, D, block] = [8, 64, 64];

type Setting = { topK: number } | { threshold: number };
const settings: Setting[] = [...topKs.map((topK) => ({ topK })), ...thresholds.map((threshold) => ({ threshold }))];
const label = (s: Setting) => ('topK' in s ? `topK ${s.topK}` : `τ ${s.threshold}`);

interface Row {
  N: number;
  setting: string;
  ok: boolean;
  note?: string;
  keptPerRow?: number;
  density?: number;
  recall?: number;
  massMean?: number;
  massP5?: number;
  selectMs?: number;
  sparseMs?: number;
  denseMs?: number | null;
  speedup?: number | null;
  selectShare?: number;
  /** The same from kernel time (engine.lastTimings.kernelMs): null where the backend measures none. */
  selectKernelMs?: number | null;
  /** The selection's kernel times by kernel name (medians), where measured. */
  selectKernels?: Record<string, number> | null;
  sparseKernelMs?: number | null;
  denseKernelMs?: number | null;
  kernelSpeedup?: number | null;
  kernelSelectShare?: number | null;
  /** With --resident: the sparse attention over the same selection as host bytes (tables compiled and uploaded by attention). */
  sparseHostMs?: number;
  sparseHostKernelMs?: number | null;
  /** With --loop: ms per iteration of selection + attention, of attention alone over a held selection, and of dense. */
  loopBothMs?: number;
  loopSparseMs?: number;
  loopDenseMs?: number | null;
  /** (loopBothMs − loopSparseMs) / loopSparseMs: the selection's share in the loop. */
  loopSelectShare?: number;
  /** loopDenseMs / loopBothMs. */
  loopSpeedup?: number | null;
}

/** Wall and kernel time of `reps` calls (medians): on WebGPU each after WARM_MS of the same call. */
const timed = (engine: Engine, f: () => Promise<unknown>): Promise<CallTimes> => medianCallTimes(engine, f, reps, backend === 'webgpu' ? WARM_MS : 0);

/** a / b where both were measured. */
const ratio = (a: number | null | undefined, b: number | null | undefined): number | null => (a == null || b == null || b === 0 ? null : a / b);

/** The planted blocks the layout keeps, and its mean kept blocks per block row. */
function judge(layout: BatchedLayout, inputs: PlantedInputs): { recall: number; keptPerRow: number; density: number } {
  const [, Hl, R, C] = layout.shape;
  let found = 0, planted = 0, kept = 0, allowed = 0;
  for (let h = 0; h < Hl; h++) {
    for (let r = 0; r < R; r++) {
      const row = (h * R + r) * C;
      for (const c of inputs.plants[h][r]) {
        planted++;
        found += layout.data[row + c];
      }
      for (let c = 0; c <= r && c < C; c++) kept += layout.data[row + c];
      allowed += Math.min(r + 1, C);
    }
  }
  return { recall: planted ? found / planted : 1, keptPerRow: kept / (Hl * R), density: kept / allowed };
}

/** The last `rows` query rows of q [1, H, N, D], at qOffset N − rows. */
function lastRows(q: Float32Array, N: number, rows: number): Tensor {
  const out = new Float32Array(H * rows * D);
  for (let h = 0; h < H; h++) out.set(q.subarray((h * N + N - rows) * D, (h * N + N) * D), h * rows * D);
  return { data: out, shape: [1, H, rows, D] };
}

interface Goal {
  goal: string;
  /** null: not measured in this run. */
  met: boolean | null;
  value: string;
}

/** Issue 17's goals, judged on the rows measured: on wall time, then (where measured) on kernel time. */
function goals(): Goal[] {
  const ok = rows.filter((r) => r.ok);
  const at = ok.find((r) => r.N === 65536 && r.setting === 'topK 16');
  const timeGoals = (clock: string, share: (r: Row) => number | null | undefined, speedup: (r: Row) => number | null | undefined): Goal[] => {
    const measured = ok.filter((r) => share(r) != null);
    const worst = measured.reduce<Row | null>((w, r) => (w === null || share(r)! > share(w)! ? r : w), null);
    const x = at ? speedup(at) : null;
    return [
      { goal: `selection ≤ 10% of the sparse attention it enables (every row; ${clock})`, met: worst ? share(worst)! <= 0.1 : null,
        value: worst ? `worst ${fmt.pct(share(worst)!)} (N ${fmt.n(worst.N)}, ${worst.setting})` : '—' },
      { goal: `N 64k, topK 16: selection + attention ≥ 20× faster than dense (${clock})`, met: x != null ? x >= 20 : null, value: x != null ? fmt.x(x) : 'not measured' },
    ];
  };
  const kernelGoals = ok.some((r) => r.kernelSelectShare != null) ? timeGoals('kernel time', (r) => r.kernelSelectShare, (r) => r.kernelSpeedup) : [];
  const loopGoals = ok.some((r) => r.loopSelectShare != null) ? timeGoals('an app\'s loop, timings off', (r) => r.loopSelectShare, (r) => r.loopSpeedup) : [];
  return [
    ...timeGoals('wall time', (r) => r.selectShare, (r) => r.speedup),
    ...kernelGoals,
    ...loopGoals,
    { goal: 'N 64k, topK 16: recall of planted blocks ≥ 95%', met: at ? at.recall! >= 0.95 : null, value: at ? fmt.pct(at.recall!) : 'not measured' },
  ];
}

const rows: Row[] = [];
const doc = () => ({
  bench: 'select-blocks', backend, threads: threads ?? null, H, D, block, plants: plantsPerRow, beta, plantRows, reps, massRows,
  machine: machineInfo(flags.string('machine', 'unlabelled'), flags.bool('shared')), goals: goals(), resident, rows,
});

/** Awaits a result and frees it where it is held on the device. */
async function dropped(result: Promise<unknown>): Promise<void> {
  const r = (await result) as { destroy?: () => void };
  r?.destroy?.();
}

/** The --loop figures of N's rows: selection + attention, attention over a held selection, dense. */
async function loops(N: number, inputs: PlantedInputs): Promise<void> {
  const engine = await createEngine({ backend: 'webgpu', timings: false });
  try {
    const shape = inputs.shape;
    const [q, k, v] = await Promise.all([inputs.q, inputs.k, inputs.v].map((data) => engine.upload({ data, shape })));
    const R = Math.ceil(N / block);
    const dense: Layout = { block, shape: [1, R, R], data: new Uint8Array(R * R).fill(1) };
    const attend = (layout: Layout | DeviceLayout) => engine.attention({ q, k, v, layout, causal: true, keepOnDevice: true }) as Promise<DeviceTensor>;
    const fence = await deviceFence(engine);
    let denseMs: number | null = null;
    if (withDense) {
      try {
        denseMs = await loopIterationMs(loop, () => attend(dense), fence);
      } catch (e) {
        console.log(`N ${fmt.n(N)}: dense loop failed: ${(e as Error).message.split('\n')[0]}`);
      }
    }
    // topK only: a threshold's selection reads its counts back (two submissions), so it cannot run ahead
    for (const s of settings.filter((x) => 'topK' in x)) {
      const row = rows.find((r) => r.N === N && r.setting === label(s) && r.ok);
      if (!row) continue;
      const args = { q, k, block, causal: true, keep: { diagonal: true }, keepOnDevice: true as const, ...s };
      const { sparseMs, bothMs } = await selectionLoopMs(loop, () => engine.selectBlocks(args), attend, fence);
      Object.assign(row, { loopBothMs: bothMs, loopSparseMs: sparseMs, loopDenseMs: denseMs, loopSelectShare: (bothMs - sparseMs) / sparseMs, loopSpeedup: ratio(denseMs, bothMs) });
      console.log(`  loop ${row.setting}: select + sparse ${fmt.ms(bothMs)} ms, sparse alone ${fmt.ms(sparseMs)} ms (select share ${fmt.pct(row.loopSelectShare!)})`
        + (denseMs === null ? '' : `, dense ${fmt.ms(denseMs)} ms: ${fmt.x(row.loopSpeedup!)}`));
      await writeJson(outFile, doc());
    }
  } finally {
    await engine.close();
  }
}

async function prefill(): Promise<void> {
  const engine: Engine = await createEngine(backend === 'cpu' ? { backend, threads } : { backend });
  console.log(`backend ${engine.backend}${backend === 'cpu' ? `, ${engine.info.threads} threads` : ''}${resident ? ', operands, selection and outputs on the device' : ''}`);
  for (const N of lengths) {
    const inputs = plantedInputs({ H, N, D, block, plants: plantsPerRow, beta, plantRows, seed: 17 + N });
    const shape = inputs.shape;
    const q: Tensor = { data: inputs.q, shape }, k: Tensor = { data: inputs.k, shape }, v: Tensor = { data: inputs.v, shape };
    const [qd, kd, vd]: TensorInput[] = resident ? await Promise.all([q, k, v].map((t) => engine.upload(t))) : [q, k, v];
    const R = Math.ceil(N / block);
    const dense: Layout = { block, shape: [1, R, R], data: new Uint8Array(R * R).fill(1) };
    let dense_: CallTimes | null = null;
    if (withDense) {
      try {
        dense_ = await timed(engine, () => dropped(engine.attention({ q: qd, k: kd, v: vd, layout: dense, causal: true, keepOnDevice: resident })));
        console.log(`N ${fmt.n(N)}: dense causal attention ${fmt.ms(dense_.wallMs)} ms${dense_.kernelMs === null ? '' : ` (kernels ${fmt.ms(dense_.kernelMs)} ms)`}`);
      } catch (e) {
        console.log(`N ${fmt.n(N)}: dense attention failed: ${(e as Error).message.split('\n')[0]}`);
      }
    }
    const m = Math.min(massRows, N);
    const tail = lastRows(inputs.q, N, m);
    for (const s of settings) {
      const args = { q, k, block, causal: true, keep: { diagonal: true }, ...s };
      try {
        const layout = await engine.selectBlocks(args);
        const j = judge(layout, inputs);
        const mass = await engine.attentionMass({ q: tail, k, layout, causal: true, qOffset: N - m });
        const onDevice = { ...args, q: qd, k: kd };
        const select = await timed(engine, () => (resident ? dropped(engine.selectBlocks({ ...onDevice, keepOnDevice: true })) : engine.selectBlocks(args)));
        const held = resident ? await engine.selectBlocks({ ...onDevice, keepOnDevice: true }) : layout;
        const sparse = await timed(engine, () => dropped(engine.attention({ q: qd, k: kd, v: vd, layout: held, causal: true, keepOnDevice: resident })));
        if (held !== layout) (held as DeviceLayout).destroy();
        // the same selection as host bytes: the tables attention compiles and caches, its rows longest first
        const host = resident ? await timed(engine, () => dropped(engine.attention({ q: qd, k: kd, v: vd, layout, causal: true, keepOnDevice: true }))) : null;
        const [selectMs, sparseMs, denseMs] = [select.wallMs, sparse.wallMs, dense_?.wallMs ?? null];
        const both = (a: number | null, b: number | null) => (a === null || b === null ? null : a + b);
        const row: Row = {
          N, setting: label(s), ok: true, ...j, massMean: mass.data.reduce((x, y) => x + y, 0) / mass.data.length,
          massP5: quantileSample(Array.from(mass.data), 0.05), selectMs, sparseMs, denseMs,
          speedup: ratio(denseMs, selectMs + sparseMs), selectShare: selectMs / sparseMs,
          selectKernelMs: select.kernelMs, sparseKernelMs: sparse.kernelMs, denseKernelMs: dense_?.kernelMs ?? null, selectKernels: select.kernels,
          kernelSpeedup: ratio(dense_?.kernelMs, both(select.kernelMs, sparse.kernelMs)), kernelSelectShare: ratio(select.kernelMs, sparse.kernelMs),
          ...(host ? { sparseHostMs: host.wallMs, sparseHostKernelMs: host.kernelMs } : {}),
        };
        rows.push(row);
        const selectParts = select.kernels ? ` [${Object.entries(select.kernels).map(([n, ms]) => `${n} ${fmt.ms(ms)}`).join(', ')}]` : '';
        const kernels = select.kernelMs === null || sparse.kernelMs === null ? '' : ` (kernels ${fmt.ms(select.kernelMs)}${selectParts} + ${fmt.ms(sparse.kernelMs)} ms)`
          + (host ? `; over the host bytes ${fmt.ms(host.wallMs)} ms${host.kernelMs === null ? '' : ` (kernels ${fmt.ms(host.kernelMs)})`}` : '');
        console.log(`  ${row.setting}: recall ${fmt.pct(j.recall)}, ${j.keptPerRow.toFixed(1)} blocks a row, select ${fmt.ms(selectMs)} ms, sparse ${fmt.ms(sparseMs)} ms${kernels}`);
        if (svgFile && N === lengths[0] && 'topK' in s && s.topK === 16) {
          const head0: Layout = { block, shape: [1, R, R], data: layout.data.subarray(0, R * R) };
          await writeFile(svgFile, layoutToSVG(head0, { title: `selectBlocks topK 16 + diagonal, head 0, N ${N}, block ${block} (planted matches)` }));
          console.log(`  wrote ${svgFile}`);
        }
      } catch (e) {
        rows.push({ N, setting: label(s), ok: false, note: `failed: ${(e as Error).message.split('\n')[0]}` });
        console.log(`  ${label(s)}: ${rows[rows.length - 1].note}`);
      }
      await writeJson(outFile, doc());
    }
    if (loop > 0) await loops(N, inputs);
  }
  await engine.close();
  await writeJson(outFile, doc());
  // kernel-time columns where the backend measured them
  const kernels = rows.some((r) => r.kernelSelectShare != null);
  const headers = ['N', 'setting', 'blocks/row', 'density', 'recall', 'mass mean', 'mass p5', 'select ms', 'sparse ms', 'dense ms', 'speedup', 'select share'];
  const kernelHeaders = ['select kernels', 'sparse kernels', 'dense kernels', 'kernel speedup', 'kernel share'];
  const loops_ = rows.some((r) => r.loopSelectShare != null);
  const loopHeaders = ['loop select+sparse', 'loop sparse', 'loop dense', 'loop speedup', 'loop share'];
  const loopCells = (r: Row) => [fmt.ms(r.loopBothMs), fmt.ms(r.loopSparseMs), fmt.ms(r.loopDenseMs ?? undefined), fmt.x(r.loopSpeedup ?? undefined),
    r.loopSelectShare == null ? '—' : fmt.pct(r.loopSelectShare)];
  const kernelCells = (r: Row) => [fmt.ms(r.selectKernelMs ?? undefined), fmt.ms(r.sparseKernelMs ?? undefined), fmt.ms(r.denseKernelMs ?? undefined),
    fmt.x(r.kernelSpeedup ?? undefined), r.kernelSelectShare == null ? '—' : fmt.pct(r.kernelSelectShare)];
  const allHeaders = [...headers, ...(kernels ? kernelHeaders : []), ...(loops_ ? loopHeaders : [])];
  const table = {
    headers: allHeaders,
    align: allHeaders.map((_, i) => (i === 1 ? 'l' : 'r')) as Array<'l' | 'r'>,
    rows: rows.map((r) =>
      r.ok
        ? [fmt.n(r.N), r.setting, r.keptPerRow!.toFixed(1), fmt.pct(r.density!), fmt.pct(r.recall!), r.massMean!.toFixed(3), r.massP5!.toFixed(3),
          fmt.ms(r.selectMs), fmt.ms(r.sparseMs), fmt.ms(r.denseMs ?? undefined), fmt.x(r.speedup ?? undefined), fmt.pct(r.selectShare!), ...(kernels ? kernelCells(r) : []), ...(loops_ ? loopCells(r) : [])]
        : [fmt.n(r.N), r.setting, r.note ?? 'failed', ...Array<string>(allHeaders.length - 3).fill('')],
    ),
  };
  const verdict = (g: Goal) => (g.met === null ? 'not measured' : g.met ? 'met' : 'NOT met');
  console.log(`\n${textTable(table)}\n\n${goals().map((g) => `goal: ${g.goal}: ${verdict(g)}${g.met === null ? "" : ` (${g.value})`}`).join('\n')}\nwrote ${outFile}`);
}

if (decode) {
  await selectBlocksDecode({
    backend, threads, lengths, kvHeads: flags.int('kv-heads', H), topKs, plants: plantsPerRow, beta, steps: flags.int('steps', 4), reps,
    appendReps: flags.int('append-reps', 32), chunk: flags.int('chunk', 4096),
    minTaskBytes: flags.has('min-task-bytes') ? flags.int('min-task-bytes', 0) : undefined, machine: flags.string('machine', 'unlabelled'), shared: flags.bool('shared'), out: outFile, loop,
  });
} else {
  await prefill();
}
