// The CLI (`npm start`, `npx blocksparse bench`): help, bad flags (exit 2, the flag named), a tiny
// real run's JSON, and a report directory whose files parse. Flags and reports run in-process on
// a runtime whose output is captured; the real run and one exit code go through a child process,
// as a user would run them.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs, runCli, UsageError, type BenchResults } from '../cli/index.js';
import { hostRuntime, type Runtime } from '../cli/runtime.js';

const root = fileURLToPath(new URL('..', import.meta.url));

async function capture(): Promise<{ rt: Runtime; out: () => string; err: () => string }> {
  const host = await hostRuntime();
  let out = '';
  let err = '';
  const rt: Runtime = {
    ...host,
    stdout: { write: (t) => void (out += t), isTTY: false, columns: 120 },
    stderr: { write: (t) => void (err += t), isTTY: false, columns: 120 },
  };
  return { rt, out: () => out, err: () => err };
}

async function cli(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const c = await capture();
  const code = await runCli(argv, c.rt);
  return { code, out: c.out(), err: c.err() };
}

function child(args: string[]): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, ['--import', 'tsx', 'cli/main.ts', ...args], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (err += d));
    p.on('close', (code) => resolve({ code, out, err }));
  });
}

test('--help lists the bench flags and exits 0', async () => {
  for (const argv of [['--help'], ['bench', '--help'], ['bench', '-h']]) {
    const r = await cli(...argv);
    assert.is(r.code, 0, argv.join(' '));
    for (const flag of ['--config', '--seq', '--heads', '--dim', '--block', '--backend', '--threads', '--peers', '--json', '--out', '--reps', '--budget']) {
      assert.ok(r.out.includes(flag), `${argv.join(' ')} mentions ${flag}`);
    }
  }
  const rep = await cli('report', '--help');
  assert.is(rep.code, 0);
  assert.match(rep.out, /results\.json/);
});

test('bad flags exit 2 with a message naming the flag', async () => {
  const cases: Array<[string[], RegExp]> = [
    [['--bogus'], /unknown flag '--bogus'/],
    [['--sq', '1024'], /unknown flag '--sq' \(did you mean --seq\?\)/],
    [['--heads', 'eight'], /--heads must be a whole number, got 'eight'/],
    [['--heads', '0'], /--heads must be at least 1, got 0/],
    [['--dim', '1.5'], /--dim must be a whole number/],
    [['--seq', '1000', '--block', '64'], /--seq 1000 is not a multiple of --block 64/],
    [['--seq', '1024,,2048'], /--seq has an empty item/],
    [['--seq'], /--seq needs a value/],
    [['--config', 'fixed,nope'], /--config: unknown layout 'nope'/],
    [['--backend', 'tpu'], /--backend must be cpu, webgpu or auto, got 'tpu'/],
    [['--threads', '0'], /--threads must be at least 1/],
    [['--budget', '-3'], /--budget must be a positive number/],
    [['--reps', 'many'], /--reps must be a whole number/],
    [['--json=yes'], /--json takes no value/],
    [['frobnicate'], /unknown command 'frobnicate'/],
    [['--config', 'bigbird', '--seq', '32', '--block', '16', '--heads', '1', '--backend', 'cpu'], /--config bigbird cannot make a layout for --seq 32/],
  ];
  for (const [argv, message] of cases) {
    const r = await cli(...argv);
    assert.is(r.code, 2, `exit code for ${argv.join(' ')}`);
    assert.match(r.err, message, `message for ${argv.join(' ')}: ${r.err}`);
    assert.is(r.out, '', `nothing on stdout for ${argv.join(' ')}`);
  }
  assert.throws(() => parseArgs(['--block', 'x']), (e: unknown) => e instanceof UsageError && /--block/.test((e as Error).message));
});

test('the process exits 2 on a bad flag', async () => {
  const r = await child(['bench', '--heads', 'x']);
  assert.is(r.code, 2);
  assert.match(r.err, /--heads must be a whole number/);
});

test('a tiny real run prints results.json with the expected fields', async () => {
  // CPU only: Node's Dawn can crash or hang on software Vulkan (docs/DESIGN.md), which CI has;
  // the WebGPU run is exercised under Deno and on GPU machines.
  const r = await child(['bench', '--seq', '256', '--heads', '1', '--dim', '16', '--block', '16', '--reps', '1', '--json', '--backend', 'cpu']);
  assert.is(r.code, 0, r.err);
  const j = JSON.parse(r.out) as BenchResults;
  assert.is(j.schema, 'blocksparse-bench/1');
  assert.type(j.machine.cpuModel, 'string');
  assert.ok(j.machine.cores >= 1 && j.machine.memoryBytes > 0);
  assert.is(j.runtime.name, 'node');
  assert.match(j.formulas.forward, /4 · B · nnz · block² · D/);
  const cpu = j.runs.find((x) => x.id === 'cpu-1t')!;
  assert.ok(cpu && cpu.info, 'the 1-thread CPU run records engine.info');
  assert.is(cpu.info!.backend, 'cpu');
  assert.equal(j.layouts.map((l) => l.name), ['fixed', 'bigbird', 'longformer', 'sliding', 'strided', 'dense']);
  const fused = j.measurements.filter((m) => m.run === 'cpu-1t' && m.impl === 'fused');
  assert.is(fused.length, 12, 'six layouts, forward and backward');
  for (const m of j.measurements) {
    assert.is(m.N, 256);
    assert.is(m.reps, 1);
    assert.ok(m.ms.median > 0 && m.ms.min > 0 && m.ms.min <= m.ms.median, `${m.run} ${m.layout} ${m.impl} ${m.op} ms`);
    assert.ok(m.gflops > 0 && m.density > 0 && m.density <= 1 && m.nnz > 0 && m.rssBytes > 0);
    assert.is(m.flops, (m.op === 'forward' ? 4 : 10) * m.B * m.nnz * m.block ** 2 * m.D);
  }
  assert.ok(j.measurements.some((m) => m.impl === 'unfused'), 'the unfused pipeline ran');
  // one core's ceiling, measured before the runs: the matmul micro-kernel (and the FMA peak with relaxed SIMD)
  const c = j.ceiling!;
  assert.ok(c && c.matmulGflops > 0 && (c.build === 'simd' ? c.fmaPeakGflops === null : c.fmaPeakGflops! > 0), JSON.stringify(c));
  assert.ok(j.memory.sampledPeakRssBytes > 0);
});

test('a report directory holds results.json, report.md and SVGs that parse', async () => {
  const host = await hostRuntime();
  const dir = await host.tempDir('blocksparse-cli-');
  try {
    const r = await cli('bench', '--simulate', '--budget', '60', '--out', dir, '--no-progress');
    assert.is(r.code, 0, r.err);
    assert.match(r.out, /× dense fwd/);
    const files = readdirSync(dir);
    const results = JSON.parse(readFileSync(`${dir}/results.json`, 'utf8')) as BenchResults;
    assert.ok(results.measurements.length > 20);
    assert.ok(results.simulated);
    const md = readFileSync(`${dir}/report.md`, 'utf8');
    assert.match(md, /^# blocksparse bench/);
    const svgs = files.filter((f) => f.endsWith('.svg'));
    for (const want of ['time-vs-n-cpu-1t.svg', 'speedup-vs-density.svg', 'thread-scaling.svg', 'cpu-vs-gpu.svg', 'layout-strided.svg']) {
      assert.ok(svgs.includes(want), `${want} in ${svgs.join(', ')}`);
    }
    for (const f of svgs) {
      const text = readFileSync(`${dir}/${f}`, 'utf8');
      assert.ok(text.startsWith('<svg'), `${f} starts with <svg`);
      assert.ok(text.trimEnd().endsWith('</svg>'), `${f} ends with </svg>`);
      assert.ok(md.includes(`](${f})`), `report.md embeds ${f}`);
    }
    // `blocksparse report` draws the same files again from results.json alone.
    for (const f of files.filter((x) => x !== 'results.json')) rmSync(`${dir}/${f}`);
    const again = await cli('report', dir);
    assert.is(again.code, 0, again.err);
    assert.equal(readdirSync(dir).sort(), files.sort());
    // a simulated run measures no ceiling; with one in results.json the report sets the CPU runs beside it
    assert.not.match(md, /One core's ceiling/);
    const fastest = Math.max(...results.measurements.filter((m) => m.run === 'cpu-1t' && m.impl === 'fused' && m.op === 'forward').map((m) => m.gflops));
    writeFileSync(`${dir}/results.json`, JSON.stringify({ ...results, ceiling: { build: 'relaxed', fmaPeakGflops: 2 * fastest, matmulGflops: 1.6 * fastest } }));
    assert.is((await cli('report', dir)).code, 0);
    const withCeiling = readFileSync(`${dir}/report.md`, 'utf8');
    assert.match(withCeiling, /One core's ceiling\*\* \(relaxed SIMD build, `cli\/ceiling\.ts`\): FMA peak .* GFLOP\/s .*best matmul micro-kernel .* GFLOP\/s/);
    assert.match(withCeiling, /Fastest fused forward: .* GFLOP\/s on kept blocks \(.*\), .* GFLOP\/s a thread, 50% of one core's FMA peak, 63% of its best matmul micro-kernel\./);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
