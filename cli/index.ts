// `blocksparse [bench|report]`: parse, run, print, write. Returns the exit code (0 done, 1 failed,
// 2 bad flags) instead of exiting, so tests call it in-process; main.ts exits with it.
import { BENCH_HELP, MAIN_HELP, parseArgs, REPORT_HELP, UsageError, type BenchOptions } from './args.js';
import { runBench } from './bench.js';
import { readResults, writeReport } from './report/write.js';
import type { BenchResults } from './results.js';
import { packageVersion, type Runtime } from './runtime.js';
import { baselineTable, cpuVsGpu, kernelRuns, scalingTable, skipLines, summaryRows, summaryTable, threadScaling } from './summary.js';
import { fmt, textTable } from './table.js';
import { highlights } from './report/markdown.js';
import { resultJson } from './write-json.js';

export { parseArgs, UsageError } from './args.js';
export type { BenchOptions, Command } from './args.js';
export type { BenchResults, Measurement } from './results.js';

export async function runCli(argv: readonly string[], rt: Runtime): Promise<number> {
  let command;
  try {
    command = parseArgs(argv);
  } catch (e) {
    if (e instanceof UsageError) {
      rt.stderr.write(`blocksparse: ${e.message}\n`);
      return 2;
    }
    throw e;
  }
  try {
    switch (command.kind) {
      case 'help':
        rt.stdout.write(command.topic === 'bench' ? BENCH_HELP : command.topic === 'report' ? REPORT_HELP : `${MAIN_HELP}\n${BENCH_HELP}`);
        return 0;
      case 'version':
        rt.stdout.write(`${await version(rt)}\n`);
        return 0;
      case 'report': {
        const { results, dir } = await readResults(command.input, rt);
        const written = await writeReport(results, command.out ?? dir, rt, { writeJson: command.out !== null });
        rt.stdout.write(`wrote ${written.files.join(', ')} to ${written.dir}\n`);
        for (const n of written.notes) rt.stderr.write(`note: ${n}\n`);
        return 0;
      }
      case 'bench':
        return await bench(command.options, argv, rt);
    }
  } catch (e) {
    if (e instanceof UsageError) {
      rt.stderr.write(`blocksparse: ${e.message}\n`);
      return 2;
    }
    rt.stderr.write(`blocksparse: ${(e as Error).stack ?? String(e)}\n`);
    return 1;
  }
}

async function bench(o: BenchOptions, argv: readonly string[], rt: Runtime): Promise<number> {
  const header = () => {
    if (o.json) return;
    const m = rt.machine();
    rt.stdout.write(
      `blocksparse bench · ${m.cpuModel} · ${m.cores} cores · ${rt.info.name} ${rt.info.version} · H=${o.heads} D=${o.dim} block ${o.block} · budget ${o.budget} s${o.simulate ? ' · SIMULATED' : ''}\n`,
    );
  };
  const results = await runBench(o, { rt, argv: [...argv], progressOut: o.progress && !o.json ? rt.stderr : null, onStart: header });
  const out = o.out ?? (o.json ? null : rt.resolve('bench', 'results', stamp(results.createdAt)));
  let written = null;
  if (out !== null) written = await writeReport(results, out, rt);
  if (o.json) {
    rt.stdout.write(resultJson(results));
  } else {
    rt.stdout.write(printSummary(results));
    if (written) {
      rt.stdout.write(`\nWrote ${written.dir}/ (${written.files.length} files: results.json, report.md, ${written.files.filter((f) => f.endsWith('.svg')).length} SVG plots and pictures)\n`);
      for (const n of written.notes) rt.stdout.write(`note: ${n}\n`);
    }
  }
  return results.measurements.length > 0 ? 0 : 1;
}

export function printSummary(r: BenchResults): string {
  const out: string[] = [''];
  const runs = kernelRuns(r);
  if (runs.length === 0) out.push('Nothing was measured.');
  for (const run of runs) {
    out.push(`${run.label}${run.info?.simd ? ` (${String(run.info.simd)} SIMD)` : ''}:`);
    out.push(textTable(summaryTable(summaryRows(r, run.id)), '  '));
    for (const h of highlights(r, run.id)) out.push(`  ${h}`);
    out.push('');
  }
  const scaling = threadScaling(r);
  if (scaling) out.push('thread scaling (fused):', textTable(scalingTable(scaling), '  '), '');
  const gpu = cpuVsGpu(r);
  if (gpu) out.push('CPU vs GPU (fused):', textTable(gpu, '  '), '');
  const base = baselineTable(r);
  if (base) out.push('baselines:', textTable(base, '  '), '');
  const bad = r.checks.filter((c) => !c.ok);
  if (r.checks.length) {
    out.push(bad.length === 0
      ? `agreement: unfused/naive outputs match the fused kernels at N=${fmt.n(r.checks[0]!.N)} (${r.checks.length} comparisons)`
      : `WARNING: ${bad.length} of ${r.checks.length} outputs disagree with the fused kernels (see report.md)`);
  }
  for (const n of r.notes) out.push(`note: ${n}`);
  const skips = skipLines(r);
  if (skips.length) {
    out.push(`skipped (${skips.length}):`);
    for (const s of skips.slice(0, 10)) out.push(`  ${s}`);
    if (skips.length > 10) out.push(`  … and ${skips.length - 10} more in report.md`);
  }
  out.push(`took ${r.durationS} s; peak RSS ${fmt.bytes(r.memory.peakRssBytes ?? r.memory.sampledPeakRssBytes)}`);
  return out.join('\n') + '\n';
}

/** 2025-01-02T03:04:05.678Z → 2025-01-02T03-04-05Z: sortable, and legal in every file system. */
function stamp(iso: string): string {
  return iso.slice(0, 19).replace(/:/g, '-') + 'Z';
}

async function version(rt: Runtime): Promise<string> {
  const v = await packageVersion(rt);
  return v ? `blocksparse ${v}` : 'blocksparse (unknown version)';
}
