// The plots, as Vega-Lite specs drawn to SVG by Vega's own renderer (headless: `renderer: 'none'`
// and view.toSVG(), no canvas, no browser, no network). Each spec takes its data from results.json
// only. vega and vega-lite are loaded on first use, so the library entry never pulls them in.
import { fitExponent, type BenchResults, type Op } from '../results.js';
import { threadScaling } from '../summary.js';

type Spec = Record<string, unknown>;

export interface Plot {
  file: string;
  title: string;
  /** What the plot shows, one or two sentences for report.md. */
  caption: string;
  spec: Spec;
}

const SCHEMA = 'https://vega.github.io/schema/vega-lite/v6.json';
const OP_LABEL: Record<Op, string> = { forward: 'forward', backward: 'backward' };
const WIDTH = 300;
const HEIGHT = 220;

const base = (title: string): Spec => ({
  $schema: SCHEMA,
  title: { text: title, anchor: 'start', fontSize: 13 },
  background: 'white',
  config: {
    font: 'sans-serif',
    axis: { labelFontSize: 10, titleFontSize: 11 },
    // Below the plots, in columns: the time-vs-N labels carry the fitted exponents and run long.
    legend: { orient: 'bottom', direction: 'vertical', columns: 3, labelFontSize: 10, titleFontSize: 11, labelLimit: 0, titleLimit: 0, columnPadding: 16 },
  },
});

/** The grey dashed line of what ideal scaling would reach, under a plot's points. */
function idealLine(values: Spec[], x: string, y: string): Spec {
  return {
    data: { values },
    mark: { type: 'line', color: '#9ca3af', strokeDash: [4, 3] },
    encoding: { x: { field: x, type: 'quantitative' }, y: { field: y, type: 'quantitative' } },
  };
}

/** Time vs N, log-log, one line per layout, forward and backward side by side; the legend carries each fit. */
export function timeVsN(r: BenchResults, run: string, label: string): Plot | null {
  const ms = r.measurements.filter((m) => m.run === run && m.impl === 'fused');
  if (new Set(ms.map((m) => m.N)).size < 2) return null;
  const legend = new Map<string, string>();
  for (const layout of r.layouts.map((l) => l.name)) {
    const parts = (['forward', 'backward'] as Op[]).map((op) => {
      const e = fitExponent(ms.filter((m) => m.layout === layout && m.op === op).map((m) => ({ N: m.N, ms: m.ms.median })));
      return e === null ? null : `${op === 'forward' ? 'fwd' : 'bwd'} N^${e.toFixed(2)}`;
    }).filter(Boolean);
    if (ms.some((m) => m.layout === layout)) legend.set(layout, parts.length ? `${layout} (${parts.join(', ')})` : layout);
  }
  const values = ms.map((m) => ({ N: m.N, ms: m.ms.median, layout: legend.get(m.layout) ?? m.layout, op: OP_LABEL[m.op] }));
  return {
    file: `time-vs-n-${run}.svg`,
    title: `Fused attention time vs N — ${label}`,
    caption:
      `Median time per call against sequence length on log-log axes, fused kernels on ${label}. ` +
      'A slope of 2 is quadratic (dense); the Sparse Transformer promises about 1.5 (N√N) for strided and local patterns approach 1. The legend gives each fitted exponent.',
    spec: {
      ...base(`Fused attention time vs N — ${label} (log-log)`),
      data: { values },
      facet: { column: { field: 'op', type: 'nominal', title: null, sort: ['forward', 'backward'] } },
      spec: {
        width: WIDTH,
        height: HEIGHT,
        mark: { type: 'line', point: true, strokeWidth: 1.5 },
        encoding: {
          x: { field: 'N', type: 'quantitative', scale: { type: 'log', base: 2 }, title: 'sequence length N', axis: { values: uniq(values.map((v) => v.N)), format: 'd' } },
          y: { field: 'ms', type: 'quantitative', scale: { type: 'log' }, title: 'ms per call (median)' },
          color: { field: 'layout', type: 'nominal', title: 'layout (fitted exponent)' },
        },
      },
    },
  };
}

/** Speedup over the dense layout against density, with 1/density (the ideal: time ∝ kept blocks) as a line. */
export function speedupVsDensity(r: BenchResults): Plot | null {
  const values: Spec[] = [];
  for (const m of r.measurements) {
    if (m.impl !== 'fused' || m.layout === 'dense') continue;
    const d = r.measurements.find((x) => x.run === m.run && x.impl === 'fused' && x.layout === 'dense' && x.op === m.op && x.N === m.N);
    if (!d) continue;
    values.push({ run: runLabel(r, m.run), layout: m.layout, op: OP_LABEL[m.op], density: m.density, speedup: d.ms.median / m.ms.median, N: m.N });
  }
  if (values.length === 0) return null;
  const dens = values.map((v) => v.density as number);
  const lo = Math.min(...dens) * 0.9;
  const ideal = Array.from({ length: 24 }, (_, i) => lo * (1 / lo) ** (i / 23)).map((d) => ({ density: d, speedup: 1 / d }));
  return {
    file: 'speedup-vs-density.svg',
    title: 'Speedup over dense vs density',
    caption:
      'How many times faster than the Dense layout each layout runs, at every N where both were measured, against the fraction of blocks it keeps. ' +
      'The grey line is 1/density, what a kernel whose time is proportional to kept blocks would reach; points below it pay a per-block or per-row overhead.',
    spec: {
      ...base('Speedup over dense vs density (fused)'),
      facet: { column: { field: 'run', type: 'nominal', title: null } },
      data: { values },
      spec: {
        width: WIDTH,
        height: HEIGHT,
        layer: [
          idealLine(ideal, 'density', 'speedup'),
          {
            mark: { type: 'point', filled: true, size: 50 },
            encoding: {
              x: { field: 'density', type: 'quantitative', scale: { type: 'log' }, title: 'density (kept blocks / all blocks)', axis: { format: '.0%' } },
              y: { field: 'speedup', type: 'quantitative', scale: { type: 'log' }, title: '× faster than dense' },
              color: { field: 'layout', type: 'nominal' },
              shape: { field: 'op', type: 'nominal' },
            },
          },
        ],
      },
    },
  };
}

/** Speedup over one thread, per layout, with the ideal (linear) line. */
export function threadScalingPlot(r: BenchResults): Plot | null {
  const s = threadScaling(r);
  if (!s) return null;
  const values: Spec[] = [];
  for (const row of s.rows) {
    values.push({ layout: row.layout, op: OP_LABEL[row.op], threads: s.threads[0], speedup: 1, N: row.N });
    for (const o of row.others) if (o.speedup !== undefined) values.push({ layout: row.layout, op: OP_LABEL[row.op], threads: o.threads, speedup: o.speedup, N: row.N });
  }
  const ideal = s.threads.map((t) => ({ threads: t, speedup: t / s.threads[0]! }));
  return {
    file: 'thread-scaling.svg',
    title: 'Thread scaling',
    caption:
      `Fused kernels' speedup over ${s.threads[0]} thread at the largest N every thread count measured. The dashed line is linear scaling; ` +
      'small layouts at small N fall below it when there are too few block rows to share out.',
    spec: {
      ...base('Thread scaling (fused, speedup over 1 thread)'),
      facet: { column: { field: 'op', type: 'nominal', title: null, sort: ['forward', 'backward'] } },
      data: { values },
      spec: {
        width: WIDTH,
        height: HEIGHT,
        layer: [
          idealLine(ideal, 'threads', 'speedup'),
          {
            mark: { type: 'line', point: true },
            encoding: {
              x: { field: 'threads', type: 'quantitative', title: 'threads', axis: { values: s.threads, format: 'd' } },
              y: { field: 'speedup', type: 'quantitative', title: '× faster than 1 thread' },
              color: { field: 'layout', type: 'nominal' },
            },
          },
        ],
      },
    },
  };
}

/** Fused time on each backend run, per layout, at the largest N the GPU and every CPU run measured. */
export function cpuVsGpuPlot(r: BenchResults): Plot | null {
  const gpu = r.runs.find((x) => x.backend === 'webgpu' && !x.skipped && r.measurements.some((m) => m.run === x.id));
  if (!gpu) return null;
  const runs = r.runs.filter((x) => (x.backend === 'cpu' || x.backend === 'webgpu') && !x.skipped);
  const values: Spec[] = [];
  for (const layout of r.layouts.map((l) => l.name)) {
    for (const op of ['forward', 'backward'] as Op[]) {
      const sets = runs.map((x) => new Set(r.measurements.filter((m) => m.run === x.id && m.layout === layout && m.impl === 'fused' && m.op === op).map((m) => m.N)));
      const common = [...sets[0]!].filter((n) => sets.every((s) => s.has(n)));
      if (common.length === 0) continue;
      const N = Math.max(...common);
      for (const x of runs) {
        const m = r.measurements.find((y) => y.run === x.id && y.layout === layout && y.impl === 'fused' && y.op === op && y.N === N)!;
        values.push({ layout: `${layout} N=${N}`, run: x.label, op: OP_LABEL[op], ms: m.ms.median });
      }
    }
  }
  if (values.length === 0) return null;
  // Bars on a log axis need an explicit floor (log 0 is undefined): the decade below the fastest.
  const floor = 10 ** Math.floor(Math.log10(Math.min(...values.map((v) => v.ms as number))));
  const order = uniqStr(values.map((v) => v.layout as string));
  return {
    file: 'cpu-vs-gpu.svg',
    title: 'CPU vs GPU',
    caption: 'Fused time per call on every backend run, per layout, at the largest N they all measured (log scale: each gridline a factor).',
    spec: {
      ...base('CPU vs GPU, same layouts (fused, log scale)'),
      data: { values },
      facet: { column: { field: 'op', type: 'nominal', title: null, sort: ['forward', 'backward'] } },
      // forward and backward may have reached different N: each panel lists its own rows
      resolve: { scale: { y: 'independent', yOffset: 'independent' } },
      spec: {
        width: WIDTH,
        height: HEIGHT,
        mark: 'bar',
        encoding: {
          y: { field: 'layout', type: 'nominal', title: null, sort: order },
          yOffset: { field: 'run' },
          x: { field: 'ms', type: 'quantitative', scale: { type: 'log', domainMin: floor }, title: 'ms per call (median)' },
          x2: { datum: floor },
          color: { field: 'run', type: 'nominal', title: 'backend' },
        },
      },
    },
  };
}

/** Fused vs unfused (and the naive baseline) at every N, per run: where fusing pays. */
export function fusedVsUnfused(r: BenchResults, run: string, label: string): Plot | null {
  const ms = r.measurements.filter((m) => m.run === run && m.impl === 'unfused');
  if (ms.length === 0) return null;
  const values: Spec[] = [];
  for (const u of ms) {
    const f = r.measurements.find((m) => m.run === run && m.impl === 'fused' && m.layout === u.layout && m.op === u.op && m.N === u.N);
    if (f) values.push({ layout: u.layout, op: OP_LABEL[u.op], N: u.N, speedup: u.ms.median / f.ms.median });
  }
  if (values.length === 0) return null;
  return {
    file: `fused-vs-unfused-${run}.svg`,
    title: `Fused vs unfused — ${label}`,
    caption: `How many times faster the fused kernels run than DeepSpeed's three-op pipeline (sdd → softmax → dsd) on ${label}; above 1, fusing pays.`,
    spec: {
      ...base(`Fused speedup over sdd → softmax → dsd — ${label}`),
      data: { values },
      facet: { column: { field: 'op', type: 'nominal', title: null, sort: ['forward', 'backward'] } },
      spec: {
        width: WIDTH,
        height: HEIGHT,
        layer: [
          { mark: { type: 'rule', color: '#9ca3af', strokeDash: [4, 3] }, encoding: { y: { datum: 1 } } },
          {
            mark: { type: 'line', point: true },
            encoding: {
              x: { field: 'N', type: 'quantitative', scale: { type: 'log', base: 2 }, title: 'sequence length N', axis: { values: uniq(values.map((v) => v.N as number)), format: 'd' } },
              y: { field: 'speedup', type: 'quantitative', title: '× faster fused' },
              color: { field: 'layout', type: 'nominal' },
            },
          },
        ],
      },
    },
  };
}

export function allPlots(r: BenchResults): Plot[] {
  const plots: Array<Plot | null> = [];
  for (const run of r.runs.filter((x) => (x.backend === 'cpu' || x.backend === 'webgpu') && !x.skipped)) plots.push(timeVsN(r, run.id, run.label));
  plots.push(speedupVsDensity(r), threadScalingPlot(r), cpuVsGpuPlot(r));
  for (const run of r.runs.filter((x) => (x.backend === 'cpu' || x.backend === 'webgpu') && !x.skipped)) plots.push(fusedVsUnfused(r, run.id, run.label));
  return plots.filter((p): p is Plot => p !== null);
}

/** Vega-Lite → Vega → SVG, headless. Throws when vega or vega-lite cannot be loaded. */
export async function renderSvg(spec: Spec): Promise<string> {
  const { vega, vl } = await loadVega();
  const compiled = vl.compile(spec as never).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

interface VegaModules {
  vega: typeof import('vega');
  vl: typeof import('vega-lite');
}
let loaded: Promise<VegaModules> | undefined;

export function loadVega(): Promise<VegaModules> {
  loaded ??= (async () => {
    const [vega, vl] = await Promise.all([import('vega'), import('vega-lite')]);
    return { vega, vl };
  })();
  loaded.catch(() => (loaded = undefined));
  return loaded;
}

export async function vegaVersions(): Promise<Record<string, string>> {
  try {
    const { vega, vl } = await loadVega();
    return { vega: vega.version, 'vega-lite': vl.version };
  } catch {
    return {};
  }
}

function runLabel(r: BenchResults, id: string): string {
  return r.runs.find((x) => x.id === id)?.label ?? id;
}

function uniqStr(xs: string[]): string[] {
  return [...new Set(xs)];
}

function uniq(xs: number[]): number[] {
  return [...new Set(xs)].sort((a, b) => a - b);
}
