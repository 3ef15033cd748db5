// A layout as a standalone SVG: one grid per head, heads side by side (wrapping), kept blocks
// filled. Cheap for big layouts: each run of kept blocks in a row is one rect, and runs repeated
// on the next rows grow that rect instead of adding one, so a band or a dense head is a few rects.
import type { Layout } from '../types.js';
import { errors } from '../errors.js';
import { checkLayout } from '../validate.js';
import { int, optionsObject, positiveInt } from './args.js';
import { describeLayout } from './describe.js';

export interface LayoutSVGOptions {
  /** Heads to draw, or 'all' (the default). */
  heads?: number[] | 'all';
  /** Pixels per block. Default: what makes a head about 256 px wide, between 1 and 16; capped so a head stays within 1024 px. */
  cellSize?: number;
  /** Text above the grids. Default: heads, blocks and density, from describeLayout. */
  title?: string;
}

const SVG_OPTIONS = ['heads', 'cellSize', 'title'] as const;
const MAX_PANEL = 1024; // px per head, at most
const MAX_ROW = 1200; // px of heads side by side before wrapping
const GAP = 16;
const TITLE_H = 24;
const LABEL_H = 16;
const FILL = '#2563eb';

export function layoutToSVG(layout: Layout, options: LayoutSVGOptions = {}): string {
  const { block, shape, data } = checkLayout('layout', layout);
  if (options === null || typeof options !== 'object') throw errors.notObject('options', options);
  optionsObject('layoutToSVG', options, SVG_OPTIONS);
  if (options.title !== undefined && typeof options.title !== 'string') throw errors.notString('title', options.title);
  const [H, R, C] = shape;
  const heads = options.heads === undefined || options.heads === 'all' ? [...Array(H).keys()] : options.heads;
  if (!Array.isArray(heads) || heads.length === 0) throw errors.notHeads(options.heads);
  heads.forEach((h, i) => {
    int(`heads[${i}]`, h);
    if (h < 0 || h >= H) throw errors.outOfRange(`heads[${i}]`, H - 1, h);
  });
  const largest = Math.max(R, C);
  const cap = Math.max(1, Math.floor(MAX_PANEL / largest));
  const cell = Math.min(options.cellSize === undefined ? Math.max(1, Math.min(16, Math.floor(256 / largest))) : positiveInt('cellSize', options.cellSize), cap);
  const d = describeLayout(layout);
  const title = options.title ?? `${H} head${H === 1 ? '' : 's'} × ${R}×${C} blocks of ${block} · density ${(100 * d.density).toFixed(1)}%`;

  const panelW = C * cell;
  const panelH = R * cell;
  const perRow = Math.max(1, Math.min(heads.length, Math.floor((MAX_ROW + GAP) / (panelW + GAP))));
  const rows = Math.ceil(heads.length / perRow);
  const width = Math.max(perRow * (panelW + GAP) - GAP + 2 * GAP, 320);
  const height = TITLE_H + rows * (LABEL_H + panelH + GAP) + GAP;

  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" shape-rendering="crispEdges">`,
    `<title>${escapeXml(title)}</title>`,
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
    `<text x="${GAP}" y="${TITLE_H - 6}" font-family="sans-serif" font-size="14" fill="#111827">${escapeXml(title)}</text>`,
  );
  heads.forEach((h, i) => {
    const x0 = GAP + (i % perRow) * (panelW + GAP);
    const y0 = TITLE_H + Math.floor(i / perRow) * (LABEL_H + panelH + GAP);
    const label = `head ${h} · ${d.keptPerHead[h]} kept`;
    out.push(`<text x="${x0}" y="${y0 + LABEL_H - 4}" font-family="sans-serif" font-size="11" fill="#374151">${escapeXml(label)}</text>`);
    out.push(`<g transform="translate(${x0} ${y0 + LABEL_H})">`);
    out.push(`<rect width="${panelW}" height="${panelH}" fill="#f3f4f6"/>`);
    for (const [r, c, w, hgt] of keptRects(data, h, R, C)) {
      out.push(`<rect x="${c * cell}" y="${r * cell}" width="${w * cell}" height="${hgt * cell}" fill="${FILL}"/>`);
    }
    out.push(`<rect width="${panelW}" height="${panelH}" fill="none" stroke="#9ca3af" stroke-width="1"/>`);
    out.push('</g>');
  });
  out.push('</svg>');
  return out.join('\n');
}

/** Kept blocks of head h as [row, col, width, height] rectangles: row runs, merged down while they repeat. */
export function keptRects(data: Uint8Array, h: number, R: number, C: number): Array<[number, number, number, number]> {
  const done: Array<[number, number, number, number]> = [];
  let open = new Map<number, [number, number, number, number]>(); // key: start * (C + 1) + end
  for (let r = 0; r < R; r++) {
    const next = new Map<number, [number, number, number, number]>();
    const base = (h * R + r) * C;
    for (let c = 0; c < C; ) {
      if (data[base + c] === 0) {
        c++;
        continue;
      }
      const start = c;
      while (c < C && data[base + c] !== 0) c++;
      const key = start * (C + 1) + c;
      const rect = open.get(key);
      if (rect) {
        rect[3]++;
        open.delete(key);
        next.set(key, rect);
      } else {
        next.set(key, [r, start, c - start, 1]);
      }
    }
    for (const rect of open.values()) done.push(rect);
    open = next;
  }
  for (const rect of open.values()) done.push(rect);
  return done;
}

function escapeXml(s: string): string {
  return s.replace(/[&<>"']/g, (ch) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[ch]!);
}
