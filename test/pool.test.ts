// The worker pools (src/cpu/pool/): they run kernels over one shared memory for 1, 2 and 4
// threads, report traps and dead workers by kernel name, replace dead workers, see memory growth,
// never change results, and let Node exit once closed. The kernels are assembly/diagnostics.ts.
// The Web Worker pool is tested under Deno: test/deno/pool.test.ts.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createMemory, instantiate, loadKernelModule, type KernelExports } from '../src/cpu/wasm.js';
import { createRunner, defaultThreads } from '../src/cpu/pool/probe.js';
import { threadsSupport } from '../src/probe.js';
import { InlineRunner, RoundTrips, type KernelRunner, type TaskTiming } from '../src/cpu/pool/runner.js';
import { kernelTimings } from '../src/cpu/backend.js';
import { NodePoolRunner } from '../src/cpu/pool/node-pool.js';
import { expectFilled, fillTasks } from './helpers/fill-tasks.js';
import type { KernelArgs, KernelName } from '../src/cpu/kernels.js';
import { LANE_TASKS } from '../src/cpu/pool/lane.js';

const MiB = 2 ** 20;
const PAGE = 65536;

interface Setup {
  memory: WebAssembly.Memory;
  exports: KernelExports;
  runner: KernelRunner;
  note?: string;
}

async function setup(threads: number, initialPages = 64): Promise<Setup> {
  const { module } = await loadKernelModule();
  const memory = createMemory(initialPages);
  const exports = instantiate(module, memory);
  const { runner, note } = await createRunner(module, memory, exports, threads);
  return { memory, exports, runner, note };
}

async function rejection(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (e) {
    assert.instance(e, Error);
    return e as Error;
  }
  return assert.unreachable('expected a rejection') as never;
}

const probe = suite('pool probe');

probe('threadsSupport posts a SharedArrayBuffer in Node', async () => {
  assert.equal(await threadsSupport(), { ok: true });
});

probe('defaultThreads is the core count', async () => {
  const { availableParallelism } = await import('node:os');
  assert.is(await defaultThreads(), availableParallelism());
});

probe('createRunner: inline for 1 thread, piscina for more', async () => {
  const one = await setup(1);
  assert.instance(one.runner, InlineRunner);
  assert.is(one.note, undefined);
  const two = await setup(2);
  assert.instance(two.runner, NodePoolRunner);
  assert.is(two.runner.threads, 2);
  assert.is((two.runner as NodePoolRunner).workerCount, 2);
  assert.is(two.note, undefined);
  await two.runner.close();
});

probe('createRunner falls back to one thread, with a note, when the memory is not shared', async () => {
  const { module } = await loadKernelModule();
  const shared = createMemory(16);
  const plain = new WebAssembly.Memory({ initial: 1 });
  const { runner, note } = await createRunner(module, plain, instantiate(module, shared), 4);
  assert.instance(runner, InlineRunner);
  assert.match(note ?? '', /threads: 4 asked, running on 1: .*not shared/);
});

probe('a pool whose workers cannot instantiate fails at start, and createRunner falls back with the reason', async () => {
  // (module (import "env" "nope" (func))): the workers give env.memory and env.abort only
  const bytes = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 4, 1, 96, 0, 0, 2, 12, 1, 3, 101, 110, 118, 4, 110, 111, 112, 101, 0, 0]);
  const bad = await WebAssembly.compile(bytes);
  const s = await setup(1);
  const e = await rejection(NodePoolRunner.create(bad, s.memory, 2));
  assert.match(e.message, /the Node worker pool did not start \(.*nope/);
  const { runner, note } = await createRunner(bad, s.memory, s.exports, 2);
  assert.instance(runner, InlineRunner);
  assert.match(note ?? '', /threads: 2 asked, running on 1: .*did not start/);
});

probe('RoundTrips: the median of the last 15 notes, negatives as 0, non-finite ignored; probe notes the quickest ping after an idle ms', async () => {
  const trips = new RoundTrips();
  assert.is(trips.ms, 0, 'no estimate before a note');
  const early = Array.from({ length: 24 }, () => trips.sample());
  assert.equal(early.map((x, i) => (x ? i : -1)).filter((i) => i >= 0), [7, 15, 23], 'sample: once in 8 asks before 15 notes');
  for (const ms of [0.3, 0.1, 0.2]) trips.note(ms);
  assert.is(trips.ms, 0.2);
  trips.note(Number.NaN);
  trips.note(-1);
  assert.is(trips.ms, 0.2, 'NaN ignored, -1 noted as 0: 0, 0.1, 0.2, 0.3 (the upper middle of an even count)');
  for (let i = 0; i < 15; i++) trips.note(5);
  assert.is(trips.ms, 5, 'older notes drop out');
  const asks = Array.from({ length: 192 }, () => trips.sample());
  // (the count of asks goes on from the 24 above: asks 63, 127, 191 are this loop's 39, 103, 167)
  assert.equal(asks.map((x, i) => (x ? i : -1)).filter((i) => i >= 0), [39, 103, 167], 'sample: once in 64 asks after 15 notes');
  const slow = new RoundTrips();
  let pings = 0;
  await slow.probe(() => new Promise((resolve) => setTimeout(resolve, ++pings === 2 ? 4 : 30)), 3);
  assert.is(pings, 3);
  assert.ok(slow.ms >= 3.5 && slow.ms < 25, `pings of 30, 4 and 30 ms: the quickest, got ${slow.ms}`);
});

probe('a pool measures its round trip at start and on every call; inline costs none', async () => {
  const one = await setup(1);
  assert.is(one.runner.roundTrips, null);
  const two = await setup(2);
  try {
    const atStart = two.runner.roundTrips!.ms;
    assert.ok(atStart > 0 && atStart < 1000, `at start: ${atStart} ms`);
    for (let i = 0; i < 20; i++) await two.runner.run('diagnosticFill', fillTasks(4096, 2, 1000, 2));
    const after = two.runner.roundTrips!.ms;
    assert.ok(after > 0 && after < 1000 && after !== atStart, `after 20 calls: ${after} ms (at start ${atStart})`);
  } finally {
    await two.runner.close();
  }
});

probe('createRunner rejects a bad thread count', async () => {
  const s = await setup(1);
  const { module } = await loadKernelModule();
  const e = await rejection(createRunner(module, s.memory, s.exports, 0));
  assert.instance(e, RangeError);
});

probe.run();

// Each pool of workers twice: calls by its task lane (lane.ts, what run() takes when the lane is
// free) and by messages (its other path: calls made while the lane is busy, faults, pings).
for (const [threads, path] of [[1, undefined], [2, 'lane'], [2, 'messages'], [4, 'lane'], [4, 'messages']] as const) {
  const t = suite(`pool, ${threads} thread${threads > 1 ? 's' : ''}${path ? `, by ${path}` : ''}`);
  let s: Setup;
  /** A call by this suite's path. */
  const call = <K extends KernelName>(kernel: K, tasks: readonly KernelArgs<K>[]) =>
    path ? (s.runner as NodePoolRunner).runWithFault(kernel, tasks, undefined, path) : s.runner.run(kernel, tasks);
  t.before(async () => {
    s = await setup(threads);
    assert.is(s.runner.threads, threads);
    assert.is(s.note, undefined);
  });
  t.after(async () => {
    await s.runner.close();
  });

  t('disjoint fills equal the same fills run inline, bit for bit', async () => {
    // as many tasks as threads (what the ops give), then more than threads
    for (const count of [threads, 3 * threads + 1]) {
      const tasks = fillTasks(4096, count, 1000, count);
      const region = tasks.reduce((bytes, { count: n }) => bytes + 4 * n, 0);
      new Uint8Array(s.memory.buffer, 4096, region).fill(0xff);
      await call('diagnosticFill', tasks);
      const pooled = new Uint8Array(s.memory.buffer, 4096, region).slice();

      const { module } = await loadKernelModule();
      const memory = createMemory(64);
      const inline = new InlineRunner(instantiate(module, memory));
      new Uint8Array(memory.buffer, 4096, region).fill(0xff);
      await inline.run('diagnosticFill', tasks);
      assert.equal(pooled, new Uint8Array(memory.buffer, 4096, region).slice());
      expectFilled(s.memory, tasks, `${count} tasks`);
    }
  });

  t('every task is reported once, stamped by the thread that ran it', async () => {
    const seen: TaskTiming[] = [];
    s.runner.onTask = (x) => seen.push(x);
    const t0 = performance.timeOrigin + performance.now();
    const tasks = fillTasks(4096, 3 * threads + 1, 1000, 5);
    await call('diagnosticFill', tasks);
    const t1 = performance.timeOrigin + performance.now();
    s.runner.onTask = undefined;
    assert.is(seen.length, tasks.length);
    for (const x of seen) {
      assert.is(x.kernel, 'diagnosticFill');
      assert.ok(t0 <= x.startMs && x.startMs <= x.endMs && x.endMs <= t1, `task ${x.startMs}..${x.endMs} within the call ${t0}..${t1}`);
    }
    assert.is(new Set(seen.map((x) => x.worker)).size <= threads, true);
  });

  t('a trap rejects the call with an error naming the kernel; the next call works', async () => {
    const e = await rejection(call('diagnosticTrap', Array.from({ length: threads }, () => ({}))));
    assert.match(e.message, /kernel 'diagnosticTrap' failed/);
    assert.match(e.message, /unreachable/);
    const tasks = fillTasks(8192, threads, 333, 7);
    await call('diagnosticFill', tasks);
    expectFilled(s.memory, tasks, 'after a trap');
  });

  t('an unknown kernel rejects with its name', async () => {
    // a name outside src/cpu/kernels.ts's table, as untyped code could pass
    const e = await rejection(call('noSuchKernel' as 'diagnosticTrap', [{}]));
    assert.match(e.message, /noSuchKernel/);
  });

  t('concurrent calls interleave safely', async () => {
    const calls: { tasks: KernelArgs<'diagnosticFill'>[]; done: Promise<void> }[] = [];
    for (let c = 0; c < 8; c++) {
      const tasks = fillTasks(65536 + c * 65536, threads + (c % 2), 2000, 10 * c);
      const spin = c % 3 === 0 ? s.runner.run('diagnosticSpin', Array.from({ length: threads }, () => ({ iterations: 200_000 }))) : Promise.resolve();
      calls.push({ tasks, done: spin.then(() => undefined) });
      calls.push({ tasks, done: s.runner.run('diagnosticFill', tasks) });
    }
    await Promise.all(calls.map((c) => c.done));
    for (const [i, c] of calls.entries()) expectFilled(s.memory, c.tasks, `call ${i}`);
  });

  t('memory grown on the main thread is visible to every worker', async () => {
    const oldEnd = s.memory.buffer.byteLength;
    s.memory.grow((300 * MiB) / PAGE);
    assert.is(s.memory.buffer.byteLength, oldEnd + 300 * MiB);
    // more tasks than workers, all past the old end, the last one near the new end
    const tasks = fillTasks(oldEnd + 64, 4 * threads, 4096, 100);
    tasks.push({ p: oldEnd + 300 * MiB - 4 * 1001, count: 1001, value: -3 });
    await call('diagnosticFill', tasks);
    expectFilled(s.memory, tasks, 'past the old end');
  });

  if (threads > 1) {
    for (const kind of ['exit', 'uncaught'] as const) {
      t(`a worker that dies mid-call (${kind}) rejects the call, is replaced, and the next call is correct`, async () => {
        const pool = s.runner as NodePoolRunner;
        const tasks = fillTasks(1 << 20, threads, 5000, 50);
        const e = await rejection(pool.runWithFault('diagnosticFill', tasks, { task: threads - 1, kind }, path));
        assert.match(e.message, /kernel 'diagnosticFill' failed in a pool worker/);
        // the lane knows only that the worker is gone; piscina has its exit code or error
        if (path === 'lane') assert.match(e.message, new RegExp(`task ${threads} of ${threads}\\): its worker \\(thread \\d+\\) exited`));
        else assert.match(e.message, kind === 'exit' ? /worker exited with code: 70/ : /uncaught error in a pool worker/);
        assert.is(pool.workerCount, threads, 'the pool is back to full strength');
        // every task ran, the dying one included (it died after its kernel): the call waited for all
        expectFilled(s.memory, tasks, 'the failed call');
        const next = fillTasks(2 << 20, 2 * threads, 5000, 60);
        await call('diagnosticFill', next);
        expectFilled(s.memory, next, 'the next call');
        assert.is(pool.workerCount, threads);
        // an uncaught error with no piscina task in flight reaches the pool's 'error' event
        if (path === 'lane' && kind === 'uncaught') assert.is(pool.idleErrors.splice(0).length <= 1, true);
        assert.equal(pool.idleErrors, []);
      });
    }
  }

  if (path === 'lane') {
    t('run() takes the lane when it is free; a call past its task room, or made while it is busy, goes by messages', async () => {
      const pool = s.runner as NodePoolRunner;
      const before = pool.laneCalls;
      const tasks = fillTasks(4096, threads, 1000, 3);
      await pool.run('diagnosticFill', tasks);
      assert.is(pool.laneCalls, before + 1);
      const many = fillTasks(4 << 20, LANE_TASKS + 1, 16, 4);
      await pool.run('diagnosticFill', many);
      assert.is(pool.laneCalls, before + 1);
      expectFilled(s.memory, many, 'past the lane');
      // long enough that the calling thread, preempted on a loaded machine between its notify and
      // its first look at the tasks, cannot find them all ended and free the lane before `during`
      const spin = pool.run('diagnosticSpin', Array.from({ length: threads }, () => ({ iterations: 30_000_000 })));
      const during = fillTasks(8 << 20, threads, 1000, 9);
      await pool.run('diagnosticFill', during);
      await spin;
      assert.is(pool.laneCalls, before + 2);
      expectFilled(s.memory, during, 'while the lane was busy');
    });
  }

  t('close ends the pool; later calls reject; close again is a no-op', async () => {
    const own = await setup(threads);
    await own.runner.run('diagnosticFill', [{ p: 64, count: 4, value: 1 }]);
    await own.runner.close();
    if (threads > 1) {
      const e = await rejection(own.runner.run('diagnosticFill', [{ p: 64, count: 4, value: 1 }]));
      assert.match(e.message, /closed/);
      assert.is((own.runner as NodePoolRunner).workerCount, 0);
    }
    await own.runner.close();
  });

  t.run();
}

const timings = suite('kernel timings');
timings('kernel time is the union of the tasks\' intervals, in all and per kernel; null without tasks', () => {
  const task = (kernel: string, startMs: number, endMs: number) => ({ kernel, worker: 1, startMs, endMs });
  const t = kernelTimings('op', [task('a', 0, 4), task('a', 1, 3), task('b', 3, 6), task('a', 8, 9), task('b', 10, 10)])!;
  assert.is(t.op, 'op');
  assert.is(t.totalMs, 7, '[0, 6] and [8, 9]: overlaps count once, gaps not at all');
  assert.equal(t.kernels, [{ kernel: 'a', ms: 5 }, { kernel: 'b', ms: 3 }]);
  assert.is(kernelTimings('op', []), null);
});
timings.run();

const exit = suite('pool exit');

/** Runs a pool in a child process; resolves with the ms between closing and the process exit. */
function childExit(wasmModule: string, probeModule: string, nodeArgs: string[]): Promise<{ afterClose: number; output: string }> {
  const code = `
import { loadKernelModule, createMemory, instantiate } from ${JSON.stringify(wasmModule)};
import { createRunner } from ${JSON.stringify(probeModule)};
const k = await loadKernelModule();
const memory = createMemory(16);
const { runner, note } = await createRunner(k.module, memory, instantiate(k.module, memory), 2);
if (note || runner.threads !== 2) throw new Error('no pool: ' + note);
await runner.run('diagnosticFill', [{ p: 64, count: 16, value: 1 }, { p: 128, count: 16, value: 2 }]);
if (new Float32Array(memory.buffer, 128, 1)[0] !== 2) throw new Error('wrong result');
await runner.close();
console.log('closed');
`;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...nodeArgs, '--input-type=module', '-e', code], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    let closedAt = 0;
    child.stdout.on('data', (d: Buffer) => {
      output += d;
      if (!closedAt && output.includes('closed')) closedAt = performance.now();
    });
    child.stderr.on('data', (d: Buffer) => (output += d));
    const killer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`the child did not exit within 20 s:\n${output}`));
    }, 20_000);
    child.on('exit', (code) => {
      clearTimeout(killer);
      if (code !== 0 || !closedAt) reject(new Error(`the child exited with ${code}:\n${output}`));
      else resolve({ afterClose: performance.now() - closedAt, output });
    });
  });
}

const here = (p: string) => new URL(p, import.meta.url);

exit('Node exits on its own after close() (source, under tsx)', async () => {
  const { afterClose } = await childExit(here('../src/cpu/wasm.ts').href, here('../src/cpu/pool/probe.ts').href, ['--import', 'tsx']);
  assert.ok(afterClose < 3000, `exited ${afterClose.toFixed(0)} ms after close()`);
});

const probeJs = here('../dist/src/cpu/pool/probe.js');
const distBuilt = existsSync(fileURLToPath(probeJs)) && existsSync(fileURLToPath(here('../dist/build/blocksparse.simd.wasm')));
if (!distBuilt) console.log('  skipped: Node exits after close() (dist/): dist/ is not built (npm run build)');
(distBuilt ? exit : exit.skip)('Node exits on its own after close() (built package, dist/)', async () => {
  const { afterClose } = await childExit(here('../dist/src/cpu/wasm.js').href, probeJs.href, []);
  assert.ok(afterClose < 3000, `exited ${afterClose.toFixed(0)} ms after close()`);
});

exit.run();
