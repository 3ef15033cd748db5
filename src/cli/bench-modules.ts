// Baselines that live in bench/ (the naive TypeScript kernel, the ONNX Runtime peers) belong to
// other benches and are not part of the library, so the CLI finds them rather than copying them:
// 1. compiled beside the CLI: dist/bench/<name>.js (when tsconfig includes them), or bench/<name>.ts
//    itself when the CLI runs from source under tsx (which maps .js to .ts);
// 2. the TypeScript source of a checkout, from dist/: Deno imports .ts directly, Node through tsx's
//    tsImport (a devDependency, present after `npm install` in a clone).
// Neither: an `npx blocksparse` install, which ships no bench/; the caller skips with a note.

export type BenchModule = Record<string, unknown>;

/** The module bench/<name> (no extension), or a string saying where it was looked for. */
export async function importBenchModule(name: string): Promise<BenchModule | string> {
  const compiled = [`../../bench/${name}.js`, `../../../bench/${name}.js`];
  for (const rel of compiled) {
    try {
      return (await import(new URL(rel, import.meta.url).href)) as BenchModule;
    } catch {
      // not there: try the next place
    }
  }
  // From dist/src/cli/, the checkout's bench/ is three levels up.
  const source = new URL(`../../../bench/${name}.ts`, import.meta.url);
  if ((globalThis as { Deno?: unknown }).Deno) {
    try {
      return (await import(source.href)) as BenchModule;
    } catch {
      // fall through
    }
  } else {
    try {
      const api = 'tsx/esm/api'; // a variable: bundlers and tsc leave the optional import alone
      const { tsImport } = (await import(api)) as { tsImport(specifier: string, parent: string): Promise<BenchModule> };
      return await tsImport(source.href, import.meta.url);
    } catch {
      // fall through
    }
  }
  return `bench/${name}.ts is not part of this build (looked for dist/bench/${name}.js and, through tsx or Deno, ${source.pathname})`;
}
