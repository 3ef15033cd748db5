// report.md: the machine, the answer, the plots with a line each on what they show, the skips,
// every measurement, and how the figures were taken. Drawn from results.json alone.
import type { BenchResults } from '../results.js';
import { baselineTable, cpuVsGpu, fullTable, kernelRuns, scalingTable, skipLines, summaryRows, summaryTable, threadScaling, type SummaryRow } from '../summary.js';
import { fmt, markdownTable } from '../table.js';
import type { Plot } from './plots.js';

export interface LayoutPicture {
  layout: string;
  file: string;
  N: number;
}

export function reportMarkdown(r: BenchResults, plots: Plot[], pictures: LayoutPicture[], plotNotes: string[]): string {
  const out: string[] = [];
  const push = (...lines: string[]) => out.push(...lines);
  const o = r.options as { heads?: number; dim?: number; block?: number; batch?: number; budget?: number; capMs?: number; reps?: number | null };

  push(`# blocksparse bench — ${r.createdAt.slice(0, 19).replace('T', ' ')} UTC`, '');
  if (r.simulated) push('> **Simulated run** (`--simulate`): the timings come from a cost model, not from kernels. Use it to check the report, not the machine.', '');
  push(
    `- **Machine:** ${r.machine.cpuModel}, ${r.machine.cores} cores (${r.machine.parallelism} available), ${fmt.bytes(r.machine.memoryBytes)}, ${r.machine.platform}/${r.machine.arch}`,
    `- **Runtime:** ${r.runtime.name} ${r.runtime.version}${r.runtime.versions.v8 ? ` (V8 ${r.runtime.versions.v8})` : ''}, blocksparse ${r.runtime.blocksparse}` +
      (Object.keys(r.runtime.dependencies).length ? `, ${Object.entries(r.runtime.dependencies).map(([k, v]) => `${k} ${v}`).join(', ')}` : ''),
    ...(r.ceiling
      ? [`- **One core's ceiling** (${r.ceiling.build} SIMD build, \`cli/ceiling.ts\`): ${r.ceiling.fmaPeakGflops !== null ? `FMA peak ${fmt.gflops(r.ceiling.fmaPeakGflops)} GFLOP/s (fused multiply-adds on registers: what 128-bit Wasm can reach), ` : ''}best matmul micro-kernel ${fmt.gflops(r.ceiling.matmulGflops)} GFLOP/s`]
      : []),
    `- **Problem:** B=${o.batch} · H=${o.heads} · D=${o.dim} · block ${o.block}; float32; scale 1/√D; no masks`,
    `- **Runs:** ${r.runs.map((x) => `${x.label}${x.skipped ? ' (skipped)' : x.usedS !== undefined ? ` (${x.usedS} s)` : ''}`).join('; ')}`,
    `- **Budget:** ${o.budget} s of measuring; the whole run took ${r.durationS} s. Peak RSS ${fmt.bytes(r.memory.peakRssBytes ?? r.memory.sampledPeakRssBytes)}.`,
    '',
  );
  for (const run of r.runs) {
    if (run.info && (run.backend === 'cpu' || run.backend === 'webgpu')) push(`- \`${run.id}\` engine.info: \`${JSON.stringify(run.info)}\``);
  }
  push('');

  push('## Summary', '');
  const runs = kernelRuns(r);
  if (runs.length === 0) push('Nothing was measured.', '');
  for (const run of runs) {
    const rows = summaryRows(r, run.id);
    push(`### ${run.label}`, '', markdownTable(summaryTable(rows)), '');
    push(...highlights(r, run.id).map((l) => `- ${l}`), '');
  }
  push(
    'Each row is at the largest N the dense baseline also reached (so "× dense" is measured, never extrapolated); ' +
      '"max N" is how far the layout itself went within the budget; "fit N^k" is the exponent of time against N over every size measured.',
    '',
  );

  const scaling = threadScaling(r);
  const gpu = cpuVsGpu(r);
  const base = baselineTable(r);
  if (scaling) push('## Thread scaling', '', markdownTable(scalingTable(scaling)), '');
  if (gpu) push('## CPU vs GPU', '', markdownTable(gpu), '');
  if (base) push('## Baselines: naive TypeScript and peers', '', markdownTable(base), '');

  if (plots.length || plotNotes.length) push('## Plots', '');
  for (const p of plots) push(`### ${p.title}`, '', `![${p.title}](${p.file})`, '', p.caption, '');
  for (const n of plotNotes) push(`> ${n}`, '');

  if (pictures.length) {
    push('## Layouts', '', 'Head 0 of each layout (every head is the same here); blue blocks are computed, grey ones skipped.', '');
    for (const p of pictures) {
      const l = r.layouts.find((x) => x.name === p.layout);
      push(`### ${p.layout} — ${l?.className ?? ''}`, '', l ? `${l.summary}.` : '', '', `![${p.layout} at N=${p.N}](${p.file})`, '');
    }
    push('| layout | class | ' + r.layouts[0]!.perSeq.map((s) => `density N=${fmt.n(s.N)}`).join(' | ') + ' |');
    push('| :--- | :--- | ' + r.layouts[0]!.perSeq.map(() => '---:').join(' | ') + ' |');
    for (const l of r.layouts) push(`| ${l.name} | ${l.className} | ${l.perSeq.map((s) => fmt.pct(s.density)).join(' | ')} |`);
    push('');
  }

  if (r.checks.length) {
    const bad = r.checks.filter((c) => !c.ok);
    push('## Agreement', '');
    push(
      `At the smallest N every other implementation's outputs were compared with the fused kernels' (max |difference| over out, or dq, dk, dv): ` +
        (bad.length === 0
          ? `all ${r.checks.length} comparisons agree (largest difference ${Math.max(...r.checks.map((c) => c.maxAbsDiff)).toExponential(2)}).`
          : `${bad.length} of ${r.checks.length} disagree: ${bad.map((c) => `${c.impl} ${c.op} ${c.layout} on ${c.run} (${c.maxAbsDiff.toExponential(2)})`).join('; ')}.`),
      '',
    );
  }

  if (r.skipped.length || r.notes.length) {
    push('## Skipped and notes', '');
    for (const n of r.notes) push(`- ${n}`);
    for (const s of skipLines(r)) push(`- ${s}`);
    push('');
  }

  push('## All measurements', '');
  for (const run of r.runs.filter((x) => r.measurements.some((m) => m.run === x.id))) push(`### ${run.label}`, '', markdownTable(fullTable(r, run.id)), '');

  push(
    '## Method',
    '',
    `- Each figure is the median of the timed calls after ${r.runs.some((x) => x.backend === 'webgpu') ? 'one warm-up call (three on the GPU)' : 'one warm-up call'}; ` +
      (o.reps ? `${o.reps} timed calls each (--reps).` : `calls repeat until they add up to ${o.capMs} ms, 3 to 15 of them (one when a single call is longer).`) +
      ' Sizes whose predicted cost did not fit the budget were skipped (listed above); a run\'s unused time passes to the next.',
    `- GFLOP/s counts only kept blocks. Forward: ${r.formulas.forward}. Backward: ${r.formulas.backward}. ${r.formulas.note}.`,
    '- "unfused" is `engine.matmul` sdd (q·kᵀ, transB) → `engine.softmax` → `engine.matmul` dsd (·v), as DeepSpeed runs it; its backward starts from the saved probabilities and runs sdd, dsd (transA), softmaxBackward, dsd, dsd (transA). "intermediates" is the score blocks it materialises, which the fused kernels never do.',
    '- CPU runs come first and the GPU last, with the GPU device closed before anything else runs (on Linux/Vulkan an open Dawn device busy-polls a core).',
    `- The data is in results.json beside this file; \`blocksparse report ${'<dir>'}\` re-draws this report from it.`,
    '',
  );
  return out.join('\n');
}

/** Two or three sentences a reader wants first, computed from the summary rows. */
/** The run's fastest fused forward beside its threads' ceiling (CPU runs of a measured ceiling only). */
function ofCeiling(r: BenchResults, run: string): string | null {
  const info = r.runs.find((x) => x.id === run);
  if (!r.ceiling || info?.backend !== 'cpu' || !info.threads) return null;
  const fwd = r.measurements.filter((m) => m.run === run && m.impl === 'fused' && m.op === 'forward');
  if (fwd.length === 0) return null;
  const best = fwd.reduce((a, m) => (m.gflops > a.gflops ? m : a));
  const per = best.gflops / info.threads;
  const of = (x: number | null, what: string) => (x === null ? '' : `, ${fmt.pct(per / x)} of ${what}`);
  return `Fastest fused forward: ${fmt.gflops(best.gflops)} GFLOP/s on kept blocks (${best.layout}, N=${fmt.n(best.N)}), ${fmt.gflops(per)} GFLOP/s a thread` +
    `${of(r.ceiling.fmaPeakGflops, "one core's FMA peak")}${of(r.ceiling.matmulGflops, 'its best matmul micro-kernel')}.`;
}

export function highlights(r: BenchResults, run: string): string[] {
  const rows = summaryRows(r, run);
  const lines: string[] = [];
  const sparse = rows.filter((s) => s.layout !== 'dense' && s.vsDenseFwd !== undefined);
  if (sparse.length) {
    const best = [...sparse].sort((a, b) => b.vsDenseFwd! - a.vsDenseFwd!)[0]!;
    const worst = [...sparse].sort((a, b) => a.vsDenseFwd! - b.vsDenseFwd!)[0]!;
    const at = [...new Set(sparse.map((s) => fmt.n(s.N)))].join('/');
    const one = (s: SummaryRow) => `${fmt.x(s.vsDenseFwd)} (${s.layout}, density ${fmt.pct(s.density)})`;
    lines.push(`Forward speedup over the Dense layout through the same kernels: ${sparse.length === 1 ? one(best) : `${one(worst)} to ${one(best)}`}, at N=${at}.`);
  }
  const exps = rows.filter((s) => s.exponent !== undefined).map((s) => `${s.layout} ${s.exponent!.toFixed(2)}`);
  if (exps.length) lines.push(`Fitted exponents of forward time in N: ${exps.join(', ')} (dense should be near 2, strided near 1.5, local windows near 1).`);
  const peak = ofCeiling(r, run);
  if (peak) lines.push(peak);
  const fused = rows.filter((s) => s.vsUnfusedFwd !== undefined);
  if (fused.length) {
    const mean = Math.exp(fused.reduce((a, s) => a + Math.log(s.vsUnfusedFwd!), 0) / fused.length);
    lines.push(`Fused over unfused (forward, geometric mean over layouts): ${fmt.x(mean)}.`);
  }
  return lines;
}
