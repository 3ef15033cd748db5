// Bundles a bench/ script for the GPU machine (no tsx there): `node tools/device/bundle-bench.mjs
// bench/threads.ts` → .device/bench/threads.mjs. src/ and gpu/ stay external, loaded from dist/, so
// that the pool finds its worker file and a bench's knobs are the engine's own; cli/'s helpers are
// bundled in; the ONNX Runtime packages are not carried (their peers are skipped there).
import { build } from 'esbuild';
import { basename } from 'node:path';

for (const entry of process.argv.slice(2)) {
  await build({
    entryPoints: [entry], bundle: true, platform: 'node', format: 'esm', target: 'node20',
    outfile: `.device/bench/${basename(entry, '.ts')}.mjs`, logLevel: 'warning',
    external: ['onnxruntime-node', 'onnxruntime-web', 'onnx-proto', 'protobufjs', 'webgpu'],
    plugins: [{ name: 'dist', setup(b) {
      b.onResolve({ filter: /^(\.\.\/)+(src|gpu)\// }, (args) => {
        const [, , dir] = /^((?:\.\.\/)+)(src|gpu)\//.exec(args.path);
        return { path: `../../dist/${dir}/${args.path.replace(/^(\.\.\/)+(src|gpu)\//, '')}`, external: true };
      });
    } }],
  });
}
