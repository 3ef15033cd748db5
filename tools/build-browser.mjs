// The browser build: src/index.ts bundled by esbuild into one ES module, dist/browser/blocksparse.js,
// with the two Wasm builds copied beside it and fetched relative to import.meta.url, and the Web
// Worker entry of the CPU pool bundled beside it too (dist/browser/worker.js).
//
// Why copy the .wasm instead of inlining it (esbuild's binary loader): a page downloads only the build
// its browser validates (relaxed where relaxed SIMD is on, plain SIMD in Safari and Firefox), not both
// as base64 in the JavaScript; the bytes are cached and compiled apart from the script; and the bundle
// loads them through the very code path dist/src uses (fetch relative to import.meta.url), so one
// loader is tested. A bundler downstream must copy the three files together, as the contract says:
// "an ES module plus its .wasm files".
//
// Node-only code stays out of the browser's way: `node:*` builtins and piscina are reached only
// through dynamic imports behind runtime checks (src/cpu/wasm.ts, src/cpu/pool/), so the build
// resolves them to a stub that throws if it is ever evaluated, and fails if any import of them is
// static (that would run the stub at load time). The bundle is then self-contained: no `node:` or
// bare specifier is left for a browser, a CDN or a downstream bundler to trip on. (Dawn's `webgpu`
// package is imported through a variable in gpu/device.ts, which no bundler follows.)
//
// Usage: node tools/build-browser.mjs [--minify]   (also exports build() for scripts: test/browser/run.mjs)
import { build as esbuild } from 'esbuild';
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const outdir = join(root, 'dist/browser');
const BUILDS = ['simd', 'relaxed'];
/** Only ever reached through dynamic imports behind runtime checks (see the header). */
const isNodeOnly = (path) => path.startsWith('node:') || path === 'piscina' || path.startsWith('piscina/') || path === 'webgpu';
/**
 * The Web Worker entry of the CPU pool, bundled to dist/browser/worker.js: web-pool.ts starts it with
 * `new Worker(new URL('./worker.js', import.meta.url))`, and in the bundle import.meta.url is
 * dist/browser/blocksparse.js. Checked below, so a renamed worker fails the build, not the page.
 */
const WORKERS = [{ in: 'src/cpu/pool/worker.ts', out: 'worker', startedBy: 'src/cpu/pool/web-pool.ts' }];

/**
 * src/cpu/wasm.ts finds the builds at `../../build/` from src/cpu/ and dist/src/cpu/; in the bundle
 * they sit beside it. Rewrites that one string, and fails loudly if the loader stopped using it.
 */
const wasmPathPlugin = {
  name: 'blocksparse-wasm-path',
  setup(b) {
    b.onLoad({ filter: /[\\/]src[\\/]cpu[\\/]wasm\.ts$/ }, (args) => {
      const text = readFileSync(args.path, 'utf8');
      const from = '../../build/blocksparse.';
      const count = text.split(from).length - 1;
      if (count !== 1) {
        return { errors: [{ text: `expected the Wasm path '${from}' exactly once in ${relative(root, args.path)}, found it ${count} times: update tools/build-browser.mjs` }] };
      }
      return { contents: text.replace(from, './blocksparse.'), loader: 'ts' };
    });
  },
};

/** Resolves Node-only modules to a stub that throws when evaluated (never, in a browser). */
const nodeOnlyStubPlugin = {
  name: 'blocksparse-node-only-stub',
  setup(b) {
    b.onResolve({ filter: /^(node:|piscina(\/|$)|webgpu$)/ }, (args) => ({ path: args.path, namespace: 'node-only' }));
    b.onLoad({ filter: /.*/, namespace: 'node-only' }, (args) => ({
      contents: `throw new Error(${JSON.stringify(`blocksparse: '${args.path}' is Node-only and not in the browser build`)});`,
      loader: 'js',
    }));
  },
};

function checkNodeOnlyImportsAreDynamic(metafile) {
  const bad = [];
  for (const [file, input] of Object.entries(metafile.inputs)) {
    for (const imp of input.imports) {
      const path = imp.path.replace(/^node-only:/, '');
      if (isNodeOnly(path) && imp.kind !== 'dynamic-import') bad.push(`${file} → ${path} (${imp.kind})`);
    }
  }
  if (bad.length) {
    throw new Error(`the browser bundle would load Node-only modules statically; make these dynamic imports behind a runtime check:\n  ${bad.join('\n  ')}`);
  }
}

function common(minify) {
  return {
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    sourcemap: 'linked',
    minify,
    metafile: true,
    logLevel: 'warning',
    legalComments: 'none',
    absWorkingDir: root,
    plugins: [wasmPathPlugin, nodeOnlyStubPlugin],
  };
}

/** Builds dist/browser/; returns the files written, relative to the repository root. */
export async function build({ minify = false, quiet = false } = {}) {
  for (const b of BUILDS) {
    const wasm = join(root, `build/blocksparse.${b}.wasm`);
    if (!existsSync(wasm)) throw new Error(`${relative(root, wasm)} is missing: run npm run build:wasm first`);
  }
  rmSync(outdir, { recursive: true, force: true });
  mkdirSync(outdir, { recursive: true });
  for (const w of WORKERS) {
    const literal = `new URL('./${w.out}.js', import.meta.url)`;
    if (!existsSync(join(root, w.in)) || !existsSync(join(root, w.startedBy)) || !readFileSync(join(root, w.startedBy), 'utf8').includes(literal)) {
      throw new Error(`${w.startedBy} no longer starts ${literal} from ${w.in}: update WORKERS in tools/build-browser.mjs`);
    }
  }
  const entryPoints = [{ in: 'src/index.ts', out: 'blocksparse' }, ...WORKERS.map((w) => ({ in: w.in, out: w.out }))];
  const files = [];
  for (const entry of entryPoints) {
    // one esbuild call per entry: no shared chunks, so each file is a self-contained module
    const result = await esbuild({ ...common(minify), entryPoints: [entry], outdir });
    checkNodeOnlyImportsAreDynamic(result.metafile);
    files.push(...Object.keys(result.metafile.outputs));
  }
  for (const b of BUILDS) {
    const to = join(outdir, `blocksparse.${b}.wasm`);
    copyFileSync(join(root, `build/blocksparse.${b}.wasm`), to);
    files.push(relative(root, to));
  }
  if (!quiet) {
    for (const f of files.filter((f) => !f.endsWith('.map'))) {
      console.log(`  ${f}  ${(statSync(join(root, f)).size / 1024).toFixed(1)} KiB`);
    }
  }
  return files;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const minify = process.argv.includes('--minify');
  try {
    const files = await build({ minify });
    console.log(`build-browser: ${files.length} files in ${relative(process.cwd(), outdir) || '.'}`);
  } catch (e) {
    console.error(`build-browser: ${e.message}`);
    process.exit(1);
  }
}
