// Command-line flags: parsed and checked up front, so a bad flag fails in a millisecond with exit
// code 2 and a message naming it, never half-way through a five-minute run.
import { intValue as int, listValue as list, numberValue as num, readFlags, UsageError, type FlagSpec } from './flags.js';
import { LAYOUT_NAMES, type LayoutName, DEFAULT_LAYOUTS } from './layouts.js';

export type BackendFlag = 'cpu' | 'webgpu' | 'auto';

export interface BenchOptions {
  layouts: LayoutName[];
  /** Sequence lengths; null: the default ladder (1024 doubling up to maxSeq, as far as the budget goes). */
  seqs: number[] | null;
  maxSeq: number;
  batch: number;
  heads: number;
  dim: number;
  block: number;
  backend: BackendFlag;
  /** CPU thread counts; null: 1 and the available parallelism. */
  threads: number[] | null;
  peers: boolean;
  json: boolean;
  /** Report directory; null: bench/results/<timestamp> (none with --json). */
  out: string | null;
  /** Timed repetitions per measurement; null: adaptive (3 to 15 within the time cap). */
  reps: number | null;
  /** Seconds of measuring for the whole run. */
  budget: number;
  /** Fake timings from a cost model instead of running kernels (tests, report development). */
  simulate: boolean;
  progress: boolean;
  /** The naive TypeScript baseline runs up to this N. */
  naiveMaxSeq: number;
}

export type Command =
  | { kind: 'bench'; options: BenchOptions }
  | { kind: 'report'; input: string; out: string | null }
  | { kind: 'help'; topic: 'bench' | 'report' | 'main' }
  | { kind: 'version' };

/** A bad command line: the CLI prints the message and exits with code 2. */
export { UsageError };

export const DEFAULTS = {
  heads: 8,
  dim: 64,
  block: 64,
  batch: 1,
  budget: 240,
  startSeq: 1024,
  maxSeq: 65536,
  naiveMaxSeq: 2048,
} as const;

export const MAIN_HELP = `blocksparse — block-sparse attention for every JavaScript runtime

Usage:
  blocksparse [bench] [flags]       measure block-sparse vs dense attention here (the default command)
  blocksparse report <results.json | dir> [--out DIR]
                                    re-draw report.md and the plots from a results.json
  blocksparse --help | --version

Run 'blocksparse bench --help' for the bench flags.
`;

export const BENCH_HELP = `blocksparse bench — how much faster is block-sparse attention here, on this CPU and GPU?

Runs fused forward and backward attention on every available backend (CPU at 1 thread and at all
threads, then WebGPU where an adapter exists), the dense layout through the same kernels, the
unfused sdd → softmax → dsd pipeline (as DeepSpeed runs it) and, at small N, a naive TypeScript
baseline; prints a summary and writes results.json, report.md and SVG plots.

Usage: blocksparse bench [flags]

Flags:
  --config LIST     layouts, comma-separated: ${LAYOUT_NAMES.join('|')}
                    (default: ${DEFAULT_LAYOUTS.join(',')})
  --seq LIST        sequence lengths, e.g. 1024,2048 (default: ${DEFAULTS.startSeq}, doubling up to --max-seq
                    while the budget lasts)
  --max-seq N       the default ladder's last length (default ${DEFAULTS.maxSeq})
  --heads N         attention heads H (default ${DEFAULTS.heads})
  --dim N           head dimension D (default ${DEFAULTS.dim})
  --block N         block size; must divide every --seq (default ${DEFAULTS.block})
  --batch N         batch size B (default ${DEFAULTS.batch})
  --backend NAME    cpu | webgpu | auto (default auto: the CPU, then WebGPU if an adapter exists)
  --threads LIST    CPU thread counts, e.g. 1,2 (default: 1 and all available)
  --peers           also time other libraries where installed (onnxruntime-node, onnxruntime-web);
                    each one missing is skipped with a note
  --reps N          timed repetitions per measurement (default: adaptive, 3 to 15 within a time cap)
  --budget SECONDS  time for all measurements (default ${DEFAULTS.budget}); sizes that would not fit are
                    skipped, and the summary says which
  --naive-max-seq N run the naive TypeScript baseline up to this N (default ${DEFAULTS.naiveMaxSeq}; 0: never)
  --json            print results.json to stdout instead of the summary (writes files only with --out)
  --out DIR         where to write results.json, report.md and the plots
                    (default bench/results/<timestamp>)
  --no-progress     no progress bar (it is drawn on stderr only when stderr is a terminal)
  --simulate        fake timings from a cost model, without running kernels (tests of the report)
  -h, --help        this text

Exit codes: 0 done, 1 the run failed, 2 bad flags.
`;

export const REPORT_HELP = `blocksparse report — re-draw a report from its results.json

Usage: blocksparse report <results.json | directory holding it> [--out DIR]

Writes report.md and the SVG plots beside results.json, or into --out DIR.
`;

const BENCH_FLAGS: FlagSpec = {
  config: 'list', seq: 'list', 'max-seq': 'int', heads: 'int', dim: 'int', block: 'int', batch: 'int',
  backend: 'string', threads: 'list', peers: 'bool', json: 'bool', out: 'string', reps: 'int',
  budget: 'number', 'naive-max-seq': 'int', 'no-progress': 'bool', simulate: 'bool', help: 'bool',
};

/** Parses argv (without the runtime and script). Throws UsageError for anything it cannot use. */
export function parseArgs(argv: readonly string[]): Command {
  const args = [...argv];
  if (args.length > 0 && (args[0] === '--version' || args[0] === '-v')) return { kind: 'version' };
  let command: 'bench' | 'report' = 'bench';
  if (args.length > 0 && !args[0]!.startsWith('-')) {
    const first = args.shift()!;
    if (first === 'bench' || first === 'report') command = first;
    else if (first === 'help') return { kind: 'help', topic: args[0] === 'report' ? 'report' : args[0] === 'bench' ? 'bench' : 'main' };
    else throw new UsageError(`unknown command '${first}': expected 'bench' or 'report' (see blocksparse --help)`);
  } else if (args.length > 0 && (args[0] === '--help' || args[0] === '-h') && args.length === 1) {
    return { kind: 'help', topic: 'main' };
  }
  return command === 'report' ? parseReport(args) : parseBench(args);
}

function parseReport(args: string[]): Command {
  let input: string | null = null;
  let out: string | null = null;
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--help' || a === '-h') return { kind: 'help', topic: 'report' };
    if (a === '--out' || a.startsWith('--out=')) {
      const v = a.includes('=') ? a.slice(a.indexOf('=') + 1) : args[++i];
      if (v === undefined || v === '' || v.startsWith('--')) throw new UsageError('--out needs a directory');
      out = v;
    } else if (a.startsWith('-')) {
      throw new UsageError(`unknown flag '${a}' for 'report' (see blocksparse report --help)`);
    } else if (input === null) {
      input = a;
    } else {
      throw new UsageError(`report takes one results.json or directory, got also '${a}'`);
    }
  }
  if (input === null) throw new UsageError('report needs a results.json or the directory holding it');
  return { kind: 'report', input, out };
}

function parseBench(args: string[]): Command {
  const raw = readFlags(args, BENCH_FLAGS, { aliases: { '-h': 'help' }, seeAlso: ' (see blocksparse bench --help)' }).values;
  if (raw.has('help')) return { kind: 'help', topic: 'bench' };

  const str = (n: string) => raw.get(n) as string | undefined;
  const heads = int('heads', str('heads'), DEFAULTS.heads, 1);
  const dim = int('dim', str('dim'), DEFAULTS.dim, 1);
  const block = int('block', str('block'), DEFAULTS.block, 1);
  const batch = int('batch', str('batch'), DEFAULTS.batch, 1);
  const maxSeq = int('max-seq', str('max-seq'), DEFAULTS.maxSeq, 1);
  const reps = str('reps') === undefined ? null : int('reps', str('reps'), 1, 1);
  const naiveMaxSeq = int('naive-max-seq', str('naive-max-seq'), DEFAULTS.naiveMaxSeq, 0);
  const budget = num('budget', str('budget'), DEFAULTS.budget);

  let layouts = DEFAULT_LAYOUTS;
  if (str('config') !== undefined) {
    layouts = unique(list('config', str('config')!).map((name) => {
      if (!(LAYOUT_NAMES as readonly string[]).includes(name)) {
        throw new UsageError(`--config: unknown layout '${name}', expected ${LAYOUT_NAMES.join('|')}`);
      }
      return name as LayoutName;
    }));
  }

  let seqs: number[] | null = null;
  if (str('seq') !== undefined) {
    seqs = unique(list('seq', str('seq')!).map((s) => int('seq', s, 0, 1))).sort((a, b) => a - b);
    for (const n of seqs) {
      if (n % block !== 0) throw new UsageError(`--seq ${n} is not a multiple of --block ${block}`);
    }
  } else if (maxSeq < block) {
    throw new UsageError(`--max-seq ${maxSeq} is shorter than one --block (${block})`);
  }

  const backend = str('backend') ?? 'auto';
  if (backend !== 'cpu' && backend !== 'webgpu' && backend !== 'auto') {
    throw new UsageError(`--backend must be cpu, webgpu or auto, got '${backend}'`);
  }

  let threads: number[] | null = null;
  if (str('threads') !== undefined) {
    threads = unique(list('threads', str('threads')!).map((t) => int('threads', t, 0, 1))).sort((a, b) => a - b);
    if (backend === 'webgpu') throw new UsageError(`--threads applies to the CPU, but --backend is webgpu`);
  }

  return {
    kind: 'bench',
    options: {
      layouts, seqs, maxSeq, batch, heads, dim, block, backend, threads,
      peers: raw.has('peers'), json: raw.has('json'), out: str('out') ?? null, reps, budget,
      simulate: raw.has('simulate'), progress: !raw.has('no-progress'), naiveMaxSeq,
    },
  };
}

/** The default ladder: `start` doubling while ≤ maxSeq, each a multiple of block. */
export function defaultSeqs(block: number, maxSeq: number): number[] {
  let n = Math.max(DEFAULTS.startSeq, block);
  n = Math.ceil(n / block) * block;
  const out: number[] = [];
  for (; n <= maxSeq; n *= 2) out.push(n);
  if (out.length === 0) out.push(Math.floor(maxSeq / block) * block);
  return out;
}

function unique<T>(xs: T[]): T[] {
  return [...new Set(xs)];
}
