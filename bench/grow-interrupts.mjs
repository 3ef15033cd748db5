// Why pool workers refresh the shared memory only after it grew (src/cpu/pool/worker.ts): V8
// answers every grow of a shared WebAssembly.Memory, grow(0) included, by interrupting each thread
// that shares it. One worker runs a kernel loop (matmulCeiling) alone and then beside N workers
// calling memory.grow(0) in a loop; it prints both times and the grow calls' rate. After npm run build:
//   node bench/grow-interrupts.mjs [N]
import { Worker } from 'node:worker_threads';
import { readFileSync } from 'node:fs';
const mem = new WebAssembly.Memory({ initial: 256, maximum: 65536, shared: true });
const flag = new Int32Array(new SharedArrayBuffer(8));
const module = new WebAssembly.Module(readFileSync(new URL('../build/blocksparse.simd.wasm', import.meta.url)));
const threads = Number(process.argv[2] ?? 1);
const code = `
const { parentPort, workerData } = require('node:worker_threads');
const { mem, flag, role, module } = workerData;
const imports = {}; for (const i of WebAssembly.Module.imports(module)) { (imports[i.module] ??= {})[i.name] = i.kind === 'memory' ? mem : () => {}; }
const inst = new WebAssembly.Instance(module, imports);
parentPort.on('message', (reps) => {
  if (role === 'grower') {
    const t0 = performance.now(); let n = 0;
    while (Atomics.load(flag, 0) === 1 && n < 100000) { mem.grow(0); n++; }
    parentPort.postMessage([n, ((performance.now() - t0) / n * 1000).toFixed(2) + ' us each']);
  } else {
    const t0 = performance.now(); inst.exports.matmulCeiling(0, 65536, 131072, 64, 64, 64, reps);
    parentPort.postMessage((performance.now() - t0).toFixed(1) + ' ms');
  }
});`;
const mk = (role) => new Worker(code, { eval: true, workerData: { mem, flag, role, module } });
const w = mk('worker'); const gs = Array.from({ length: threads }, () => mk('grower'));
const ask = (x, m) => new Promise(r => { x.once('message', r); x.postMessage(m); });
await ask(w, 10);
for (let i = 0; i < 3; i++) {
  const a = await ask(w, 2000);
  Atomics.store(flag, 0, 1);
  const gp = Promise.all(gs.map((g) => ask(g, 0)));
  const b = await ask(w, 2000);
  Atomics.store(flag, 0, 0);
  console.log('alone', a, '| beside', threads, 'grow(0) loops', b, JSON.stringify(await gp));
}
await w.terminate(); for (const g of gs) await g.terminate();
