// Speed of two builds side by side in one process (before and after a refactor), alternating call by
// call so that both see the same machine state:
//   node --import tsx bench/ab-builds.ts OLD/dist/src/index.js NEW/dist/src/index.js [--threads 1,2] [--rounds 15]
//     [--shape gqa] [--N 4096] [--ops attention,attentionBackward] [--out ab.json]
// Workload: N=4096, H=8, D=64, block 64, causal, each block row keeps itself, the 3 blocks before it
// and column 0 (bench/threads.ts's layout); forward and backward. `--shape gqa`: issue 14's real-model
// shape instead, Hq 32 over Hkv 8, D 128, Phi-3-small's pattern, causal. Reports per-call medians and the
// median of the per-round ratio new/old (1.00 = unchanged).
import { pathToFileURL } from 'node:url';
import { parseFlags, UsageError } from '../cli/flags.js';
import { uniformFloats } from '../cli/random.js';
import { median } from '../cli/stats.js';
import { writeJson } from '../cli/write-json.js';
import type * as Lib from '../src/index.js';

const flags = parseFlags({ threads: 'list', rounds: 'int', out: 'string', shape: 'string', N: 'int', ops: 'list' });
const [oldEntry, newEntry] = flags.positionals;
if (!oldEntry || !newEntry) {
  console.error('usage: bench/ab-builds.ts OLD/dist/src/index.js NEW/dist/src/index.js [--threads 1,2] [--rounds 15] [--out f.json]');
  process.exit(2);
}
const threadCounts = flags.ints('threads', [1, 2]);
const rounds = flags.int('rounds', 15);
const [oldLib, newLib] = (await Promise.all([oldEntry, newEntry].map((e) => import(pathToFileURL(e).href)))) as (typeof Lib)[];

const shapeName = flags.string('shape', 'mha');
if (shapeName !== 'mha' && shapeName !== 'gqa') throw new UsageError(`--shape: expected mha or gqa, got '${shapeName}'`);
const gqa = shapeName === 'gqa';
const N = flags.int('N', 4096);
const [B, H, Hkv, D, block] = gqa ? [1, 32, 8, 128, 64] : [1, 8, 8, 64, 64];
const ops = flags.list('ops', ['attention', 'attentionBackward']) as ('attention' | 'attentionBackward')[];
const shape = [B, H, N, D];
const kvShape = [B, Hkv, N, D];
const q = { data: uniformFloats(B * H * N * D, 1, 0.5), shape };
const k = { data: uniformFloats(B * Hkv * N * D, 2, 0.5), shape: kvShape };
const v = { data: uniformFloats(B * Hkv * N * D, 3, 0.5), shape: kvShape };
const dout = { data: uniformFloats(B * H * N * D, 4, 0.5), shape };
const layout = gqa
  ? new newLib.Phi3SmallSparsityConfig({ numHeads: H, block }).makeLayout(N)
  : newLib.layoutFromMask(H, N / block, (_h, r, c) => c <= r && (r - c <= 3 || c === 0), block);

const results: Record<string, unknown>[] = [];
for (const threads of threadCounts) {
  const engines = await Promise.all([oldLib, newLib].map((lib) => lib.createEngine({ backend: 'cpu', threads })));
  for (const op of ops) {
    const call = (e: Lib.Engine): Promise<unknown> =>
      op === 'attention' ? e.attention({ q, k, v, layout, causal: true }) : e.attentionBackward({ q, k, v, layout, causal: true, dout });
    for (const e of engines) for (let i = 0; i < 3; i++) await call(e); // warm-up
    const ms: [number[], number[]] = [[], []];
    const ratios: number[] = [];
    for (let r = 0; r < rounds; r++) {
      const order = r % 2 === 0 ? [0, 1] : [1, 0];
      const t: number[] = [0, 0];
      for (const i of order) {
        const t0 = performance.now();
        await call(engines[i]);
        t[i] = performance.now() - t0;
        ms[i].push(t[i]);
      }
      ratios.push(t[1] / t[0]);
    }
    const row = { op, threads, oldMs: median(ms[0]), newMs: median(ms[1]), ratio: median(ratios), rounds };
    results.push(row);
    console.log(`${op.padEnd(18)} ${threads}t  old ${row.oldMs.toFixed(1)} ms  new ${row.newMs.toFixed(1)} ms  new/old ${row.ratio.toFixed(3)}`);
  }
  await Promise.all(engines.map((e) => e.close()));
}
const out = flags.string('out');
if (out) await writeJson(out, { oldEntry, newEntry, shape: shapeName, B, H, Hkv, N, D, block, results });
process.exit(0);
