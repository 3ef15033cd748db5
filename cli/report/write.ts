// Writes a report directory: results.json first (docs/DESIGN.md: benchmarks write JSON first), then the
// plots and layout pictures, then report.md that embeds them. `blocksparse report` calls the same
// code on a results.json it reads back.
import { layoutToSVG } from '../../src/layouts/index.js';
import { LAYOUTS, LAYOUT_NAMES, type LayoutName } from '../layouts.js';
import { SCHEMA, type BenchResults } from '../results.js';
import { resultJson } from '../write-json.js';
import type { Runtime } from '../runtime.js';
import { reportMarkdown, type LayoutPicture } from './markdown.js';
import { allPlots, renderSvg, vegaVersions, type Plot } from './plots.js';

export interface WrittenReport {
  dir: string;
  files: string[];
  notes: string[];
}

/** Blocks per row the layout pictures aim for: enough to see the pattern, few enough to see the blocks. */
const PICTURE_BLOCKS = 64;

export async function writeReport(r: BenchResults, dir: string, rt: Runtime, opts: { writeJson?: boolean } = {}): Promise<WrittenReport> {
  await rt.mkdir(dir);
  const files: string[] = [];
  const notes: string[] = [];
  const path = (f: string) => rt.resolve(dir, f);
  const versions = await vegaVersions();
  r.runtime.dependencies = { ...r.runtime.dependencies, ...versions };
  if (opts.writeJson !== false) {
    await rt.writeFile(path('results.json'), resultJson(r));
    files.push('results.json');
  }

  const plots: Plot[] = [];
  if (Object.keys(versions).length === 0) {
    notes.push('Plots skipped: the vega and vega-lite packages could not be loaded (npm install vega vega-lite).');
  } else {
    for (const p of allPlots(r)) {
      try {
        await rt.writeFile(path(p.file), await renderSvg(p.spec));
        plots.push(p);
        files.push(p.file);
      } catch (e) {
        notes.push(`Plot ${p.file} failed: ${(e as Error).message}`);
      }
    }
  }

  const pictures: LayoutPicture[] = [];
  const o = r.options as { heads: number; block: number };
  for (const l of r.layouts) {
    if (!(LAYOUT_NAMES as readonly string[]).includes(l.name) || l.perSeq.length === 0) continue;
    const N = pictureSeq(l.perSeq.map((s) => s.N), o.block);
    try {
      const layout = LAYOUTS[l.name as LayoutName].config(o.heads, o.block, N).makeLayout(N);
      const file = `layout-${l.name}.svg`;
      await rt.writeFile(path(file), layoutToSVG(layout, { heads: [0], title: `${l.name} · N=${N} · ${N / o.block}×${N / o.block} blocks of ${o.block}` }));
      pictures.push({ layout: l.name, file, N });
      files.push(file);
    } catch (e) {
      notes.push(`Layout picture for ${l.name} failed: ${(e as Error).message}`);
    }
  }

  await rt.writeFile(path('report.md'), reportMarkdown(r, plots, pictures, notes));
  files.push('report.md');
  return { dir, files, notes };
}

/** The measured N whose block count is closest to PICTURE_BLOCKS. */
function pictureSeq(ns: number[], block: number): number {
  return [...ns].sort((a, b) => Math.abs(Math.log(a / block / PICTURE_BLOCKS)) - Math.abs(Math.log(b / block / PICTURE_BLOCKS)))[0]!;
}

/** Reads a results.json (or the directory holding one) back, checking that it is ours. */
export async function readResults(input: string, rt: Runtime): Promise<{ results: BenchResults; dir: string }> {
  let file = rt.resolve(input);
  if (!file.endsWith('.json')) file = rt.resolve(input, 'results.json');
  let text: string;
  try {
    text = await rt.readFile(file);
  } catch (e) {
    throw new Error(`cannot read ${file}: ${(e as Error).message}`);
  }
  let results: BenchResults;
  try {
    results = JSON.parse(text) as BenchResults;
  } catch (e) {
    throw new Error(`${file} is not JSON: ${(e as Error).message}`);
  }
  if (results.schema !== SCHEMA) throw new Error(`${file} is not a blocksparse bench result (schema '${String(results.schema)}', expected '${SCHEMA}')`);
  return { results, dir: file.replace(/[\\/][^\\/]*$/, '') || '.' };
}
