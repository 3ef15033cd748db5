// Where a CPU decode step's pool time goes (not a results file): B 1, H 8 = Hkv, D 64, block 64,
// a cache of N random tokens with key summaries, each step engine.selectBlocks (causal, keep first
// 1 and local 1) then engine.attention over its layout, as bench/select-blocks.ts --decode runs them.
// It wraps the Node pool's calls to time, per kernel, medians over the steps of:
//   call   the pool call, end to end;     lead   call start → first task starts
//   task   one task's run;                span   first task's start → last task's end
//   tail   last task ends → call returns; tasks  how many
// and prints the pool's own round-trip estimate (runner.ts RoundTrips) before and after.
//   node --import tsx bench/decode-pool-calls.ts [--threads 2] [--steps 300] [--n 131072] [--topk 16]
//     [--score mean|bound] [--min-task-bytes B] (taskTuning.minTaskBytes for this run)
//     [--unit-ms X] (taskTuning.unitMs: a large one splits every call) [--path lane|messages] (the pool's
//     path for every call)
import { parseFlags } from '../cli/flags.js';
import { randomDecodeCache } from '../cli/random-cache.js';
import { median } from '../cli/stats.js';
import { createEngine } from '../src/index.js';
import { NodePoolRunner } from '../src/cpu/pool/node-pool.js';
import { epochMs } from '../src/cpu/pool/messages.js';
import { taskTuning } from '../src/cpu/tasks.js';

const flags = parseFlags({
  threads: 'int', steps: 'int', n: 'int', topk: 'int', score: 'string', 'min-task-bytes': 'int', 'unit-ms': 'string', path: 'string'
});
const threads = flags.int('threads', 2);
const steps = flags.int('steps', 300);
const N = flags.int('n', 131072);
const topK = flags.int('topk', 16);
const score = flags.string('score', 'mean') as 'mean' | 'bound';
taskTuning.minTaskBytes = flags.int('min-task-bytes', taskTuning.minTaskBytes);
taskTuning.unitMs = Number(flags.string('unit-ms', String(taskTuning.unitMs)));
const path = flags.has('path') ? (flags.string('path', 'lane') as 'lane' | 'messages') : undefined;
const [H, D, block, chunk] = [8, 64, 64, 8192];

interface Call {
  kernel: string;
  t0: number;
  t1: number;
  tasks: { start: number; end: number }[];
}
const calls: Call[] = [];
let recording = false;
let pool: NodePoolRunner | undefined;
const run = NodePoolRunner.prototype.runWithFault;
NodePoolRunner.prototype.runWithFault = async function (this: NodePoolRunner, ...args: Parameters<typeof run>) {
  pool = this;
  const call: Call = { kernel: args[0], t0: epochMs(), t1: 0, tasks: [] };
  const onTask = this.onTask;
  this.onTask = (t) => {
    call.tasks.push({ start: t.startMs, end: t.endMs });
    onTask?.(t);
  };
  try {
    await run.call(this, args[0], args[1], args[2], path ?? args[3]);
  } finally {
    this.onTask = onTask;
    call.t1 = epochMs();
    if (recording) calls.push(call);
  }
};

const engine = await createEngine({ backend: 'cpu', threads, timings: false });
try {
  const { kv, q } = await randomDecodeCache(engine, H, D, N, block, chunk);
  const step = async () => {
    const layout = await engine.selectBlocks({ q, kv, topK, score, causal: true, keep: { first: 1, local: 1 } });
    await engine.attention({ q, kv, layout, causal: true });
  };
  for (let i = 0; i < 30; i++) await step();
  const before = pool?.roundTrips.ms;
  recording = true;
  const wall: number[] = [];
  for (let i = 0; i < steps; i++) {
    const t = performance.now();
    await step();
    wall.push(performance.now() - t);
  }
  recording = false;
  const ms = (x: number) => x.toFixed(3);
  console.log(`threads ${threads}, N ${N}, ${score} topK ${topK}: a step ${ms(median(wall))} ms (median of ${steps})`);
  console.log(pool ? `pool round-trip estimate ${ms(before ?? 0)} ms after the warm-up, ${ms(pool.roundTrips.ms)} ms after the steps` : 'no pool call: every kernel ran on the calling thread');
  for (const kernel of [...new Set(calls.map((c) => c.kernel))]) {
    const cs = calls.filter((c) => c.kernel === kernel && c.tasks.length > 0);
    const first = (c: Call) => Math.min(...c.tasks.map((t) => t.start));
    const last = (c: Call) => Math.max(...c.tasks.map((t) => t.end));
    console.log(
      `  ${kernel}: call ${ms(median(cs.map((c) => c.t1 - c.t0)))}  lead ${ms(median(cs.map((c) => first(c) - c.t0)))}` +
        `  task ${ms(median(cs.flatMap((c) => c.tasks.map((t) => t.end - t.start))))}  span ${ms(median(cs.map((c) => last(c) - first(c))))}` +
        `  tail ${ms(median(cs.map((c) => c.t1 - last(c))))}  tasks ${median(cs.map((c) => c.tasks.length))}  (${cs.length} calls)`,
    );
  }
} finally {
  await engine.close();
}
