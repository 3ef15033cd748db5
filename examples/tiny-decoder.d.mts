// Types of tiny-decoder.mjs, for TypeScript callers (test/example.test.ts).
import type { BlockSparseLinear, Engine, KvCache, Layout, Phi3SmallSparsityConfig } from '../src/index.js';

export interface TinyDecoderOptions {
  vocab?: number;
  dModel?: number;
  heads?: number;
  kvHeads?: number;
  headDim?: number;
  ffn?: number;
  layers?: number;
  block?: number;
  localBlocks?: number;
  vertStride?: number;
  linearBlock?: number;
  density?: number;
  prompt?: number;
  tokens?: number;
  seed?: number;
  /** Tokens the caches hold and the layout covers; default prompt + tokens. */
  capacity?: number;
}

export type TinyDecoderConfig = Required<TinyDecoderOptions>;

export const DEFAULTS: Readonly<Omit<TinyDecoderConfig, 'capacity'>>;

/** The parts of the library the model uses: the package entry, its browser bundle or src/index. */
export interface TinyDecoderLibrary {
  BlockSparseLinear: typeof BlockSparseLinear;
  Phi3SmallSparsityConfig: typeof Phi3SmallSparsityConfig;
}

export interface TinyDecoder {
  readonly config: TinyDecoderConfig;
  readonly engine: Engine;
  readonly layout: Layout;
  readonly sparsity: Phi3SmallSparsityConfig;
  readonly layers: ReadonlyArray<Record<'wq' | 'wk' | 'wv' | 'wo' | 'w1' | 'w2', BlockSparseLinear>>;
  readonly embedding: Float32Array;
  readonly unembedding: Float32Array;
  attentionMs: number;
  attentionCalls: number;
}

export interface PhaseTiming {
  ms: number;
  attentionMs: number;
  tokensPerSecond: number;
}

export interface CheckResult {
  steps: number;
  agree: boolean;
  mismatches: { step: number; cached: number; recomputed: number }[];
  maxLogitDiff: number;
  minMargin: number;
}

export interface GenerateResult {
  prompt: number[];
  tokens: number[];
  logits: Float32Array[];
  prefill: PhaseTiming & { tokens: number };
  decode: PhaseTiming & { steps: number };
  check?: CheckResult;
}

export function rng(seed: number): () => number;
export function attentionSparsity(lib: TinyDecoderLibrary, options?: TinyDecoderOptions): Phi3SmallSparsityConfig;
export function randomPrompt(n: number, vocab: number, seed: number): number[];
export function createTinyDecoder(lib: TinyDecoderLibrary, engine: Engine, options?: TinyDecoderOptions): TinyDecoder;
export function createCaches(model: TinyDecoder): Promise<KvCache[]>;
export function generate(
  model: TinyDecoder,
  options: { prompt: number[]; tokens?: number; check?: boolean; onToken?: (id: number, step: number) => void },
): Promise<GenerateResult>;
export function recomputeCheck(model: TinyDecoder, prompt: number[], generated: number[], logits: Float32Array[]): Promise<CheckResult>;
export function warmUp(model: TinyDecoder, prompt: number[]): Promise<void>;
