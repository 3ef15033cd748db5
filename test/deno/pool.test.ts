// The Web Worker pool (src/cpu/pool/web-pool.ts) under Deno, with 2 workers: Deno runs it as a
// browser would, with module Web Workers. Run:
//   XDG_RUNTIME_DIR=/tmp node_modules/.bin/deno test -A --unstable-sloppy-imports test/deno/pool.test.ts
// (sloppy imports resolve the sources' './x.js' specifiers to x.ts.) uvu's file pattern can pick
// this file up under Node too (`uvu test pool`): it then registers nothing.
import { createMemory, instantiate, loadKernelModule } from '../../src/cpu/wasm.js';
import { createRunner, defaultThreads } from '../../src/cpu/pool/probe.js';
import { threadsSupport } from '../../src/probe.js';
import { InlineRunner } from '../../src/cpu/pool/runner.js';
import { WebPoolRunner } from '../../src/cpu/pool/web-pool.js';
import { expectFilled, fillTasks } from '../helpers/fill-tasks.js';

function check(ok: unknown, message: string): asserts ok {
  if (!ok) throw new Error(message);
}

async function rejection(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (e) {
    check(e instanceof Error, `expected an Error, got ${String(e)}`);
    return e;
  }
  throw new Error('expected a rejection');
}

const inDeno = typeof (globalThis as { Deno?: unknown }).Deno !== 'undefined';

if (inDeno) Deno.test('threads probe under Deno', async () => {
  const support = await threadsSupport();
  check(support.ok, `threadsSupport: ${support.reason}`);
  check((await defaultThreads()) === navigator.hardwareConcurrency, 'defaultThreads is navigator.hardwareConcurrency');
});

if (inDeno) Deno.test('WebPoolRunner with 2 workers', async (t) => {
  const { module } = await loadKernelModule();
  const memory = createMemory(64);
  const { runner, note } = await createRunner(module, memory, instantiate(module, memory), 2);
  check(note === undefined, `no fallback expected, got: ${note}`);
  check(runner instanceof WebPoolRunner, 'createRunner picks the Web Worker pool in Deno');
  const pool = runner as WebPoolRunner;
  check(pool.threads === 2 && pool.workerCount === 2, 'two workers');
  check(pool.detectsSilentExit, 'Deno has Web Locks');
  check(pool.roundTrips.ms > 0 && pool.roundTrips.ms < 1000, `a round trip measured at start: ${pool.roundTrips.ms} ms`);

  try {
    await t.step('disjoint fills equal inline, bit for bit', async () => {
      for (const count of [2, 7]) {
        const tasks = fillTasks(4096, count, 1000, count);
        const region = tasks.reduce((bytes, { count: n }) => bytes + 4 * n, 0);
        await pool.run('diagnosticFill', tasks);
        const inlineMemory = createMemory(64);
        await new InlineRunner(instantiate(module, inlineMemory)).run('diagnosticFill', tasks);
        const a = new Uint8Array(memory.buffer, 4096, region);
        const b = new Uint8Array(inlineMemory.buffer, 4096, region);
        check(a.every((x, i) => x === b[i]), `${count} tasks: pooled bytes differ from inline`);
        expectFilled(memory, tasks, `${count} tasks`);
      }
    });

    await t.step('a trap rejects with the kernel name; the next call works', async () => {
      const e = await rejection(pool.run('diagnosticTrap', [{}, {}]));
      check(/kernel 'diagnosticTrap' failed/.test(e.message) && /unreachable/.test(e.message), e.message);
      const tasks = fillTasks(8192, 2, 333, 7);
      await pool.run('diagnosticFill', tasks);
      expectFilled(memory, tasks, 'after a trap');
    });

    await t.step('run() takes the task lane when it is free; the same fills by messages', async () => {
      const before = pool.laneCalls;
      const tasks = fillTasks(4096, 3, 1000, 3);
      await pool.run('diagnosticFill', tasks);
      check(pool.laneCalls === before + 1, `one call by the lane, counted ${pool.laneCalls - before}`);
      expectFilled(memory, tasks, 'by the lane');
      const again = fillTasks(4096, 3, 1000, 30);
      await pool.runWithFault('diagnosticFill', again, undefined, 'messages');
      check(pool.laneCalls === before + 1, 'none by the lane');
      expectFilled(memory, again, 'by messages');
    });

    for (const [kind, path] of [['exit', 'messages'], ['uncaught', 'messages'], ['exit', 'lane'], ['uncaught', 'lane']] as const) {
      await t.step(`a worker that dies mid-call (${kind}, by ${path}) rejects it and is replaced`, async () => {
        const tasks = fillTasks(1 << 20, 2, 5000, 50);
        const e = await rejection(pool.runWithFault('diagnosticFill', tasks, { task: 1, kind }, path));
        check(/kernel 'diagnosticFill' failed in a pool worker/.test(e.message), e.message);
        if (path === 'lane') check(/task 2 of 2\): its worker \(thread \d+\) exited/.test(e.message), e.message);
        else check(kind === 'exit' ? /ended/.test(e.message) : /uncaught error/.test(e.message), e.message);
        expectFilled(memory, tasks, 'the failed call');
        const next = fillTasks(2 << 20, 4, 5000, 60);
        await pool.run('diagnosticFill', next);
        expectFilled(memory, next, 'the next call');
        check(pool.workerCount === 2, `back to 2 workers, have ${pool.workerCount}`);
      });
    }

    await t.step('concurrent calls interleave safely', async () => {
      const calls = Array.from({ length: 6 }, (_, c) => fillTasks(65536 * (c + 1), 2 + (c % 2), 2000, 10 * c));
      await Promise.all([...calls.map((tasks) => pool.run('diagnosticFill', tasks)), pool.run('diagnosticSpin', [{ iterations: 1e6 }, { iterations: 1e6 }])]);
      calls.forEach((tasks, c) => expectFilled(memory, tasks, `call ${c}`));
    });

    await t.step('memory grown on the main thread is visible to the workers', async () => {
      const oldEnd = memory.buffer.byteLength;
      memory.grow((300 * 2 ** 20) / 65536);
      const tasks = fillTasks(oldEnd + 64, 8, 4096, 100);
      await pool.run('diagnosticFill', tasks);
      expectFilled(memory, tasks, 'past the old end');
    });
  } finally {
    await pool.close();
  }
  const e = await rejection(pool.run('diagnosticFill', [{ p: 64, count: 4, value: 1 }]));
  check(/closed/.test(e.message), e.message);
  check((pool.workerCount as number) === 0, 'no worker left');
});
