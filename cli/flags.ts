// The one command-line flag reader, for the app (args.ts) and the bench/ scripts: `--name value`,
// `--name=value`, bare `--name` for a boolean, words without `--` as positionals where allowed.
// Every flag is declared, so a typo fails at once with UsageError naming it.

/** A flag or value that cannot be used; the app exits with code 2 on it. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** How a flag's value is read; every kind but 'bool' takes a value. */
export type FlagKind = 'list' | 'int' | 'number' | 'string' | 'bool';
export type FlagSpec = Readonly<Record<string, FlagKind>>;

export interface ReadOptions {
  /** Where to look, added to messages: ' (see blocksparse bench --help)'. */
  seeAlso?: string;
  /** Short spellings: { '-h': 'help' }. */
  aliases?: Readonly<Record<string, string>>;
  /** Accept words that do not start with `--` (else they are an error). */
  positionals?: boolean;
}

export interface ReadFlags {
  /** The value of each flag given (true for a boolean), the last one when repeated. */
  values: Map<string, string | true>;
  positionals: string[];
}

/** Splits argv into declared flags and positionals. Throws UsageError for an unknown flag or a missing value. */
export function readFlags(argv: readonly string[], spec: FlagSpec, o: ReadOptions = {}): ReadFlags {
  const see = o.seeAlso ?? '';
  const values = new Map<string, string | true>();
  const positionals: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const alias = o.aliases?.[a];
    if (alias !== undefined) {
      values.set(alias, true);
      continue;
    }
    if (!a.startsWith('--')) {
      if (!o.positionals) throw new UsageError(`unexpected argument '${a}': flags start with --${see}`);
      positionals.push(a);
      continue;
    }
    const eq = a.indexOf('=');
    const name = eq >= 0 ? a.slice(2, eq) : a.slice(2);
    const kind = spec[name];
    if (kind === undefined) throw new UsageError(`unknown flag '--${name}'${suggest(name, spec)}${see}`);
    if (kind === 'bool') {
      if (eq >= 0) throw new UsageError(`--${name} takes no value, got '${a.slice(eq + 1)}'`);
      values.set(name, true);
      continue;
    }
    const value = eq >= 0 ? a.slice(eq + 1) : argv[++i];
    if (value === undefined || value === '' || (eq < 0 && value.startsWith('--'))) {
      throw new UsageError(`--${name} needs a value${kind === 'list' ? ' (a comma-separated list)' : ''}`);
    }
    values.set(name, value);
  }
  return { values, positionals };
}

/** A whole number of at least `min`; `fallback` when the flag was not given. */
export function intValue(flag: string, v: string | undefined, fallback: number, min: number): number {
  if (v === undefined) return fallback;
  if (!/^\d+$/.test(v.trim())) throw new UsageError(`--${flag} must be a whole number, got '${v}'`);
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < min) throw new UsageError(`--${flag} must be at least ${min}, got ${v}`);
  return n;
}

/** A positive finite number; `fallback` when the flag was not given. */
export function numberValue(flag: string, v: string | undefined, fallback: number): number {
  if (v === undefined) return fallback;
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n) || n <= 0) throw new UsageError(`--${flag} must be a positive number, got '${v}'`);
  return n;
}

/** The items of a comma-separated value, trimmed; an empty item is an error. */
export function listValue(flag: string, v: string): string[] {
  const parts = v.split(',').map((s) => s.trim());
  if (parts.some((p) => p === '')) throw new UsageError(`--${flag} has an empty item in '${v}'`);
  return parts;
}

type Named<S extends FlagSpec, K extends FlagKind> = { [N in keyof S]: S[N] extends K ? N : never }[keyof S] & string;

/** A script's flags, read against its spec, with typed getters. */
export class Flags<S extends FlagSpec> {
  constructor(private readonly read: ReadFlags) {}

  get positionals(): readonly string[] {
    return this.read.positionals;
  }

  has(name: keyof S & string): boolean {
    return this.read.values.has(name);
  }

  bool(name: Named<S, 'bool'>): boolean {
    return this.read.values.has(name);
  }

  string(name: Named<S, 'string'>): string | undefined;
  string(name: Named<S, 'string'>, fallback: string): string;
  string(name: Named<S, 'string'>, fallback?: string): string | undefined {
    return this.raw(name) ?? fallback;
  }

  /** A whole number ≥ min (default 1). */
  int(name: Named<S, 'int'>, fallback: number, min = 1): number {
    return intValue(name, this.raw(name), fallback, min);
  }

  /** A positive number. */
  number(name: Named<S, 'number'>, fallback: number): number {
    return numberValue(name, this.raw(name), fallback);
  }

  /** Comma-separated whole numbers ≥ min (default 1). */
  ints(name: Named<S, 'list'>, fallback: number[], min = 1): number[] {
    const v = this.raw(name);
    return v === undefined ? fallback : listValue(name, v).map((s) => intValue(name, s, 0, min));
  }

  /** Comma-separated positive numbers. */
  numbers(name: Named<S, 'list'>, fallback: number[]): number[] {
    const v = this.raw(name);
    return v === undefined ? fallback : listValue(name, v).map((s) => numberValue(name, s, 0));
  }

  /** Comma-separated words. */
  list(name: Named<S, 'list'>, fallback: string[]): string[] {
    const v = this.raw(name);
    return v === undefined ? fallback : listValue(name, v);
  }

  private raw(name: string): string | undefined {
    const v = this.read.values.get(name);
    return v === true ? undefined : v;
  }
}

/** The arguments after the script: Deno.args under Deno, process.argv after the script under Node. */
export function scriptArgs(): string[] {
  const g = globalThis as { Deno?: { args: string[] }; process?: { argv: string[] } };
  return g.Deno ? [...g.Deno.args] : (g.process?.argv.slice(2) ?? []);
}

/** A bench script's flags: positionals allowed, unknown flags refused. */
export function parseFlags<S extends FlagSpec>(spec: S, argv: readonly string[] = scriptArgs()): Flags<S> {
  return new Flags<S>(readFlags(argv, spec, { positionals: true }));
}

function suggest(name: string, spec: FlagSpec): string {
  const close = Object.keys(spec).find((f) => f.startsWith(name) || name.startsWith(f) || editDistance(f, name) <= 2);
  return close ? ` (did you mean --${close}?)` : '';
}

function editDistance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...new Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
  }
  return d[a.length]![b.length]!;
}
