// Where a threaded CPU call's time goes: each task's start and end on its worker (CpuBackend's
// lastTasks), against the call's wall time, on issue 5's problem (B=1, H=8, N=4096, D=64,
// block 64, causal, each block row keeping itself, the 3 blocks before it and column 0), with
// host Tensors (copies in and out on the calling thread) and with resident operands (no copies).
//   node --import tsx bench/cpu-timeline.ts [--threads 1,2,16] [--reps 15] [--out file.json]
//     [--tasks-per-thread 4,8] (sweeps the split's cap; default: the library's) [--dump] (the last
//     rep's tasks go into the JSON) [--min-task-mflops 32] (the least work worth a task)
//     [--in-flight 1,2] (sweeps the tasks piscina keeps in flight per worker)
// Per thread count, medians over the reps of:
//   wall      the call, end to end;        lead   call start → first task starts
//   kernels   time some task was running;  tail   last task ends → call returns
//   busy      Σ task time / (threads × (last end − first start)): how full the workers were
//   tasks     task count; spread = slowest worker's Σ task time / fastest's
import os from 'node:os';
import { layoutFromMask } from '../src/index.js';
import { attentionProblem } from '../src/problems.js';
import { createCpuBackend } from '../src/cpu/backend.js';
import { epochMs } from '../src/cpu/pool/messages.js';
import { taskTuning } from '../src/cpu/tasks.js';
import { poolTuning } from '../src/cpu/pool/runner.js';
import type { OperandData, ResidentData } from '../src/backend.js';
import { parseFlags } from '../cli/flags.js';
import { uniformFloats } from '../cli/random.js';
import { median } from '../cli/stats.js';
import { writeJson } from '../cli/write-json.js';

const flags = parseFlags({ threads: 'list', reps: 'int', 'tasks-per-thread': 'list', dump: 'bool', 'in-flight': 'list', 'min-task-mflops': 'number', out: 'string' });
const threadCounts = flags.ints('threads', [1, 2, os.availableParallelism()]);
const reps = flags.int('reps', 15);
const perThread = flags.ints('tasks-per-thread', [taskTuning.tasksPerThread]);
const dump = flags.bool('dump');
const inFlight = flags.ints('in-flight', [poolTuning.tasksInFlightPerWorker]);
if (flags.has('min-task-mflops')) taskTuning.minTaskFlops = flags.number('min-task-mflops', 0) * 1e6;
const [B, H, N, D, block] = [1, 8, 4096, 64, 64];
const nb = N / block;
const layout = layoutFromMask(H, nb, (_h, r, c) => c <= r && (r - c <= 3 || c === 0), block);
const shape: [number, number, number, number] = [B, H, N, D];
const size = B * H * N * D;
const [q, k, v] = [1, 2, 3].map((seed) => uniformFloats(size, seed));
const host = attentionProblem({ q: { data: q, shape }, k: { data: k, shape }, v: { data: v, shape }, layout, causal: true });

const rows: Record<string, unknown>[] = [];
console.log(`cpu timeline: B=${B} H=${H} N=${N} D=${D} block=${block}, ${os.availableParallelism()} cores (${os.cpus()[0]?.model ?? '?'}), node ${process.version}`);
console.log('threads in-flight operands  wall ms  kernels ms  lead ms  tail ms   busy  tasks  spread');
for (const T of threadCounts) for (const cap of T === 1 ? [perThread[0]] : perThread) for (const depth of T === 1 ? [inFlight[0]] : inFlight) {
  taskTuning.tasksPerThread = cap;
  poolTuning.tasksInFlightPerWorker = depth;
  const backend = await createCpuBackend({ threads: T });
  const residents = await Promise.all([q, k, v].map((x) => backend.upload(x, D)));
  const resident = { ...host, q: residents[0], k: residents[1], v: residents[2], keepOnDevice: true };
  for (const [name, p] of [['host', host], ['resident', resident]] as const) {
    const call = async () => {
      const out = await backend.attention(p as typeof host & { q: OperandData });
      if (name === 'resident') (out as ResidentData).destroy();
    };
    for (let w = 0; w < 10; w++) await call();
    const samples: Record<string, number>[] = [];
    let raw: unknown[] = [];
    for (let r = 0; r < reps; r++) {
      const t0 = epochMs();
      await call();
      const t1 = epochMs();
      const tasks = backend.lastTasks;
      raw = tasks.map((t) => ({ worker: t.worker, start: +(t.startMs - t0).toFixed(3), end: +(t.endMs - t0).toFixed(3) }));
      const first = Math.min(...tasks.map((t) => t.startMs));
      const last = Math.max(...tasks.map((t) => t.endMs));
      const perWorker = new Map<number, number>();
      for (const t of tasks) perWorker.set(t.worker, (perWorker.get(t.worker) ?? 0) + t.endMs - t.startMs);
      const work = [...perWorker.values()];
      const sum = work.reduce((a, b) => a + b, 0);
      samples.push({
        wall: t1 - t0, kernels: backend.lastTimings?.totalMs ?? NaN, lead: first - t0, tail: t1 - last,
        busy: sum / (T * (last - first)), tasks: tasks.length, spread: Math.max(...work) / Math.min(...work), taskSum: sum,
      });
    }
    const m = Object.fromEntries(Object.keys(samples[0]).map((key) => [key, median(samples.map((s) => s[key]))]));
    rows.push({ threads: T, operands: name, tasksPerThread: cap, inFlight: depth, ...m, ...(dump ? { lastRepTasks: raw } : {}) });
    console.log(`${String(T).padStart(7)} ${String(depth).padStart(9)} ${name.padEnd(9)} ${m.wall.toFixed(2).padStart(8)} ${m.kernels.toFixed(2).padStart(11)} ${m.lead.toFixed(2).padStart(8)} ${m.tail.toFixed(2).padStart(8)} ${m.busy.toFixed(2).padStart(6)} ${String(m.tasks).padStart(6)} ${m.spread.toFixed(2).padStart(7)}`);
  }
  for (const r of residents) r.destroy();
  await backend.close();
}
const out = flags.string('out');
if (out) await writeJson(out, { machine: { cpu: os.cpus()[0]?.model, cores: os.availableParallelism(), node: process.version }, problem: { B, H, N, D, block }, reps, rows });
