// The argument names of each engine call, for one check: a key that misses one of them narrowly
// (another case, snake_case, one letter dropped, added, changed or two swapped) is a TypeError that
// names the argument meant. Unchecked, a misspelt option is ignored and the call runs without it
// (`causual: true` ran non-causal, silently). Other unknown keys stay ignored, as the contract
// leaves them, and so does any name some call takes: one call's arguments may be spread into
// another's (a selection's `score` beside attention's `scale`).
import type { EngineOptions } from './engine.js';
import { errors } from './errors.js';
import { camel } from './layouts/args.js';
import type {
  AttentionArgs, AttentionBackwardArgs, AttentionMassArgs, KvAttentionArgs, KvCacheOptions, MatmulArgs, SelectBlocksArgs,
  SelectBlocksKeep, SoftmaxArgs, SoftmaxBackwardArgs,
} from './types.js';

/** Every key of every member of a union. */
type AllKeys<T> = T extends unknown ? keyof T : never;

/** The names of T's keys, all of them (a key left out fails to compile). */
export function namesOf<T>() {
  return <const K extends readonly AllKeys<T>[]>(names: K & ([Exclude<AllKeys<T>, K[number]>] extends [never] ? unknown : never)): readonly string[] =>
    names as readonly string[];
}

const SCORE = ['scale', 'causal', 'rpe', 'keyPaddingMask', 'keyPaddingMaskMode', 'attnMask', 'attnMaskMode'] as const;
const QUERY = ['q', 'layout', 'keyLengths', 'qOffset', 'keepOnDevice', 'returnLse', ...SCORE] as const;

export const argNames = {
  attention: namesOf<AttentionArgs | KvAttentionArgs>()([...QUERY, 'k', 'v', 'kv']),
  attentionBackward: namesOf<AttentionBackwardArgs>()([...QUERY, 'k', 'v', 'kv', 'dout']),
  matmul: namesOf<MatmulArgs>()(['mode', 'a', 'b', 'layout', 'transA', 'transB']),
  softmax: namesOf<SoftmaxArgs>()(['x', ...SCORE]),
  softmaxBackward: namesOf<SoftmaxBackwardArgs>()(['y', 'dy', 'scale']),
  selectBlocks: namesOf<SelectBlocksArgs>()([
    'q', 'k', 'kv', 'block', 'score', 'topK', 'threshold', 'causal', 'qOffset', 'keyLengths', 'scale', 'keep', 'keepOnDevice',
  ]),
  keep: namesOf<SelectBlocksKeep>()(['diagonal', 'first', 'local']),
  attentionMass: namesOf<AttentionMassArgs>()(['q', 'k', 'layout', 'causal', 'qOffset', 'keyLengths', 'scale']),
  createKvCache: namesOf<KvCacheOptions>()(['batch', 'kvHeads', 'headDim', 'capacity', 'dtype', 'summaryBlock']),
  createEngine: namesOf<EngineOptions>()(['backend', 'threads', 'simd', 'timings', 'experimentalWebgpu']),
};

const everyName = new Set(Object.values(argNames).flat());

/** The name among `known` that `key` narrowly misses, or null (names of fewer than 4 letters: never). */
function meant(key: string, known: readonly string[]): string | null {
  const lower = key.toLowerCase();
  for (const name of known) {
    if (name.length < 4) continue;
    if (lower === name.toLowerCase() || camel(key) === name || oneEditApart(lower, name.toLowerCase())) return name;
  }
  return null;
}

/** a and b differ by one insertion, deletion, substitution or swap of neighbours. */
function oneEditApart(a: string, b: string): boolean {
  if (a === b || Math.abs(a.length - b.length) > 1) return false;
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  if (a.length === b.length) {
    if (a.slice(i + 1) === b.slice(i + 1)) return true; // substitution
    return a[i] === b[i + 1] && a[i + 1] === b[i] && a.slice(i + 2) === b.slice(i + 2); // swap
  }
  return a.length > b.length ? a.slice(i + 1) === b.slice(i) : a.slice(i) === b.slice(i + 1);
}

/** Throws a TypeError for a key of `args` that misspells one of `call`'s argument names. */
export function checkArgNames(call: keyof typeof argNames, args: unknown): void {
  if (args === null || typeof args !== 'object') return; // the call's own checks say what it must be
  const known = argNames[call];
  for (const key of Object.keys(args)) {
    if (known.includes(key) || everyName.has(key)) continue;
    const name = meant(key, known);
    if (name) throw errors.misspeltArgument(call, key, name);
  }
}
