// Tables and derived figures of the ONNX Runtime comparisons (bench/gqa-ort.ts, bench/decode.ts),
// computed from their result documents only, so that a JSON file brought back from another machine
// makes the same tables here (bench/report/ort.ts adds the plots).
import os from 'node:os';
import { fmt, type Table } from '../../cli/table.js';

export interface GqaOrtRow {
  impl: string;
  op: 'forward' | 'forward+backward';
  threads: number;
  N: number;
  layout: string;
  density: number;
  nnz: number;
  ok: boolean;
  /** ms per call; for a head slice, the time it took × scaledBy. */
  ms?: number;
  msRan?: number;
  samples?: number[];
  foreign?: number[];
  ownCores?: number[];
  enoughClean?: boolean;
  gflopsKept?: number;
  gflopsDense?: number;
  /** Query heads it ran on, and the factor its time was scaled by (Hq / heads). */
  heads: number;
  scaledBy: number;
  note?: string;
  [more: string]: unknown;
}

export interface MachineInfo {
  label: string;
  /** True when other work shared the cores (a developer box): timings are noisy. */
  shared: boolean;
  cpu: string;
  cores: number;
  memoryGB: number;
  node: string;
  platform: string;
}

export function machineInfo(label: string, shared: boolean): MachineInfo {
  return { label, shared, cpu: os.cpus()[0]?.model ?? '?', cores: os.cpus().length, memoryGB: Math.round(os.totalmem() / 1e9), node: process.version, platform: `${process.platform} ${process.arch}` };
}

export interface BreakEven {
  threads: number;
  N: number;
  peer: string;
  peerMs: number;
  /** The density at which our forward time equals the peer's, interpolated; null when outside the sweep. */
  density: number | null;
  text: string;
}

/** Where our forward time over the window sweep equals each peer's (dense GroupQueryAttention, SparseAttention), per thread count. */
export function breakEven(rows: GqaOrtRow[], N: number): BreakEven[] {
  const out: BreakEven[] = [];
  for (const threads of [...new Set(rows.map((r) => r.threads))]) {
    const ours = rows
      .filter((r) => r.impl === 'ours' && r.op === 'forward' && r.N === N && r.threads === threads && r.ok && (r.layout.startsWith('window-') || r.layout === 'causal'))
      .sort((a, b) => a.density - b.density);
    if (ours.length < 2) continue;
    for (const impl of ['ort-gqa', 'ort-sparse']) {
      const peer = rows.find((r) => r.impl === impl && r.N === N && r.threads === threads && r.ok);
      if (!peer) continue;
      const T = peer.ms!;
      let density: number | null = null;
      for (let i = 0; i + 1 < ours.length && density === null; i++) {
        const [a, b] = [ours[i]!, ours[i + 1]!];
        if ((a.ms! - T) * (b.ms! - T) <= 0 && a.ms !== b.ms) density = a.density + ((T - a.ms!) * (b.density - a.density)) / (b.ms! - a.ms!);
      }
      const [lo, hi] = [ours[0]!, ours[ours.length - 1]!];
      const what = `${threads}t N ${N}: ours (forward, windows) vs ${impl} ${fmt.ms(T)} ms`;
      const text = density !== null
        ? `${what}: break-even at density ${fmt.pct(density)}`
        : hi.ms! < T
          ? `${what}: ours faster at every density swept, ${fmt.x(T / hi.ms!)} at ${fmt.pct(hi.density)} (${hi.layout}); no break-even below full causal`
          : `${what}: ours slower at every density swept (${fmt.x(T / lo.ms!)} at ${fmt.pct(lo.density)}); break-even below ${fmt.pct(lo.density)}`;
      out.push({ threads, N, peer: impl, peerMs: T, density, text });
    }
  }
  return out;
}

interface GqaOrtDoc { results: GqaOrtRow[] }

/** Phi-3-small's pattern: ours (forward, forward + backward) beside both peers, per thread count and N, with the ratios. */
export function gqaOrtTable(doc: GqaOrtDoc): Table {
  const rows: string[][] = [];
  const r = doc.results;
  const keys = [...new Set(r.filter((x) => x.layout === 'phi3-small').map((x) => `${x.threads}|${x.N}`))];
  const ms = (x: GqaOrtRow | undefined) => (x?.ok ? fmt.ms(x.ms) + (x.scaledBy > 1 ? ` (${x.heads}h×${x.scaledBy})` : '') : x ? 'could not run' : '—');
  for (const key of keys) {
    const [threads, N] = key.split('|').map(Number) as [number, number];
    const at = (impl: string, op = 'forward', layout?: string) => r.find((x) => x.impl === impl && x.op === op && x.threads === threads && x.N === N && (!layout || x.layout === layout));
    const f = at('ours', 'forward', 'phi3-small'), fb = at('ours', 'forward+backward', 'phi3-small');
    const sp = at('ort-sparse'), gq = at('ort-gqa', 'forward', 'causal');
    const ratio = (peer: GqaOrtRow | undefined) => (peer?.ok && f?.ok ? fmt.x(peer.ms! / f.ms!) : '—');
    rows.push([
      String(threads), fmt.n(N), f ? fmt.pct(f.density) : '—',
      ms(f), f?.ok ? fmt.gflops(f.gflopsKept) : '—', ms(fb), fb?.ok ? fmt.gflops(fb.gflopsKept) : '—',
      ms(sp), sp?.ok ? `${fmt.gflops(sp.gflopsKept)} / ${fmt.gflops(sp.gflopsDense)}` : '—', ratio(sp),
      ms(gq), gq?.ok ? fmt.gflops(gq.gflopsDense) : '—', ratio(gq),
    ]);
  }
  return {
    headers: ['threads', 'N', 'density', 'ours fwd ms', 'GFLOP/s kept', 'ours fwd+bwd ms', 'GFLOP/s kept', 'ORT Sparse ms', 'GFLOP/s kept / dense', 'ours × faster', 'ORT GQA dense ms', 'GFLOP/s dense', 'ours × faster'],
    align: ['r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r'],
    rows,
  };
}

/** The density sweep: ours forward per window beside ONNX Runtime's windowed and dense GroupQueryAttention. */
export function gqaSweepTable(doc: GqaOrtDoc, N: number): Table {
  const r = doc.results.filter((x) => x.N === N && (x.layout.startsWith('window-') || x.layout === 'causal'));
  const rows: string[][] = [];
  for (const threads of [...new Set(r.filter((x) => x.impl === 'ours').map((x) => x.threads))]) {
    const dense = r.find((x) => x.impl === 'ort-gqa' && x.threads === threads && x.ok);
    for (const o of r.filter((x) => x.impl === 'ours' && x.threads === threads && x.ok).sort((a, b) => a.density - b.density)) {
      const w = r.find((x) => x.impl === 'ort-gqa-window' && x.threads === threads && x.layout === o.layout);
      rows.push([
        String(threads), o.layout, fmt.pct(o.density), fmt.ms(o.ms), fmt.gflops(o.gflopsKept),
        w?.ok ? fmt.ms(w.ms) : w ? 'could not run' : '—', w?.ok ? fmt.x(w.ms! / o.ms!) : '—',
        dense ? fmt.ms(dense.ms) : '—', dense ? fmt.x(dense.ms! / o.ms!) : '—',
      ]);
    }
  }
  return {
    headers: ['threads', 'layout', 'density', 'ours fwd ms', 'GFLOP/s kept', 'ORT GQA window ms', 'ours × faster', 'ORT GQA dense ms', 'ours × faster'],
    align: ['r', 'l', 'r', 'r', 'r', 'r', 'r', 'r', 'r'],
    rows,
  };
}

export interface DecodeRow {
  impl: string;
  backend: 'cpu' | 'webgpu' | 'onnxruntime-node';
  threads: number | null;
  context: number;
  ok: boolean;
  ms?: number;
  wallMs?: number;
  /** WebGPU with timings off: steps run back to back, then one read (bench/decode.ts pipelined). */
  pipelinedMs?: number;
  /** Bytes of the distinct kept K and V blocks the step reads. */
  keptBytes: number;
  keptGBps?: number;
  /** The plain copy's rate measured in the same run at this thread count (GB/s of bytes copied). */
  copyGBps?: number;
  note?: string;
  [more: string]: unknown;
}

/** Step time per context: ours per thread count (or WebGPU) beside both peers, kept-bytes rate beside the copy rate. */
export function decodeTable(doc: { results: DecodeRow[] }): Table {
  const r = doc.results;
  const rows: string[][] = [];
  const ctxs = [...new Set(r.map((x) => x.context))].sort((a, b) => a - b);
  const runs = [...new Set(r.filter((x) => x.impl === 'ours').map((x) => `${x.backend}|${x.threads}`))];
  for (const run of runs) {
    const [backend, t] = run.split('|');
    const threads = t === 'null' ? null : Number(t);
    for (const context of ctxs) {
      const o = r.find((x) => x.impl === 'ours' && x.backend === backend && x.threads === threads && x.context === context);
      if (!o) continue;
      const peer = (impl: string) => r.find((x) => x.impl === impl && x.threads === threads && x.context === context);
      const sp = peer('ort-sparse'), gq = peer('ort-gqa');
      const ms = (x: DecodeRow | undefined) => (x?.ok ? fmt.ms(x.ms) : x ? 'could not run' : '—');
      const ratio = (x: DecodeRow | undefined) => (x?.ok && o.ok ? fmt.x(x.ms! / o.ms!) : '—');
      rows.push([
        backend === 'webgpu' ? 'WebGPU' : `CPU ${threads}t`, fmt.n(context), ms(o), fmt.bytes(o.keptBytes),
        o.ok ? o.keptGBps!.toFixed(1) : '—', o.copyGBps !== undefined ? o.copyGBps.toFixed(1) : '—',
        o.ok && o.copyGBps ? fmt.pct(o.keptGBps! / o.copyGBps) : '—',
        ms(sp), ratio(sp), ms(gq), ratio(gq),
      ]);
    }
  }
  return {
    headers: ['ours', 'context', 'step ms', 'kept K/V', 'kept GB/s', 'copy GB/s', 'of copy', 'ORT Sparse ms', 'ours × faster', 'ORT GQA ms', 'ours × faster'],
    align: ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r'],
    rows,
  };
}
