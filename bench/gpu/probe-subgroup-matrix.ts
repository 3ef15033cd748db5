// What the GPU offers for issue 6's stretch goal (a subgroup-matrix path): adapter features with
// Dawn's `allow_unsafe_apis` toggle, the subgroup-matrix configurations, and for each configuration
// whose types WGSL can name without `shader-f16`, a known-answer multiply and a register-resident
// throughput loop (peak TFLOP/s of that path, beside a plain f32 FMA loop on the same device).
//   node probe-subgroup-matrix.mjs [out.json]
import { parseFlags } from '../../cli/flags.js';
import { writeJson } from '../../cli/write-json.js';

import type { MatrixConfig } from '../../gpu/device.js';

const name = 'webgpu'; // a variable specifier: bundlers leave the optional package alone
const { create } = (await import(name)) as { create(flags: string[]): GPU };
const gpu = create(['enable-dawn-features=allow_unsafe_apis', 'disable-dawn-features=timestamp_quantization']);
const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
if (!adapter) throw new Error('no adapter');
const info = adapter.info as GPUAdapterInfo & { subgroupMatrixConfigs?: MatrixConfig[]; subgroupMinSize?: number; subgroupMaxSize?: number };
const features = [...adapter.features].map(String).sort();
const configs: MatrixConfig[] = [...(info.subgroupMatrixConfigs ?? [])].map((c) => ({
  M: c.M, N: c.N, K: c.K, componentType: String(c.componentType), resultComponentType: String(c.resultComponentType),
}));
const report: Record<string, unknown> = {
  adapter: { vendor: info.vendor, architecture: info.architecture, device: info.device, description: info.description },
  subgroupMinSize: info.subgroupMinSize, subgroupMaxSize: info.subgroupMaxSize,
  features, subgroupMatrixConfigs: configs, tests: [] as unknown[],
};
console.log(JSON.stringify(report, null, 1));

const FEATURE = 'chromium-experimental-subgroup-matrix';
const wanted = [FEATURE, 'subgroups', 'timestamp-query', 'shader-f16'].filter((f) => adapter.features.has(f as GPUFeatureName));
const device = await adapter.requestDevice({ requiredFeatures: wanted as GPUFeatureName[] });
const U = { STORAGE: 0x80, COPY_SRC: 0x4, COPY_DST: 0x8, MAP_READ: 0x1, QUERY_RESOLVE: 0x200 };

async function runShader(code: string, inputs: Float32Array<ArrayBuffer>[], outWords: number, groups: number, timed: boolean): Promise<{ out: Float32Array; ms: number }> {
  device.pushErrorScope('validation');
  const module = device.createShaderModule({ code });
  const info = await module.getCompilationInfo();
  const errors = info.messages.filter((m) => m.type === 'error').map((m) => m.message);
  if (errors.length) throw new Error(errors.join('; '));
  const pipeline = device.createComputePipeline({ layout: 'auto', compute: { module, entryPoint: 'main' } });
  const bufs = inputs.map((x) => {
    const b = device.createBuffer({ size: Math.max(16, x.byteLength), usage: U.STORAGE | U.COPY_DST });
    device.queue.writeBuffer(b, 0, x);
    return b;
  });
  const out = device.createBuffer({ size: outWords * 4, usage: U.STORAGE | U.COPY_SRC });
  const read = device.createBuffer({ size: outWords * 4, usage: U.MAP_READ | U.COPY_DST });
  const entries = [...bufs, out].map((buffer, binding) => ({ binding, resource: { buffer } }));
  const group = device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries });
  const useTs = timed && device.features.has('timestamp-query');
  const qs = useTs ? device.createQuerySet({ type: 'timestamp', count: 2 }) : null;
  const qb = useTs ? device.createBuffer({ size: 16, usage: U.QUERY_RESOLVE | U.COPY_SRC }) : null;
  const qr = useTs ? device.createBuffer({ size: 16, usage: U.MAP_READ | U.COPY_DST }) : null;
  const enc = device.createCommandEncoder();
  const pass = enc.beginComputePass(qs ? { timestampWrites: { querySet: qs, beginningOfPassWriteIndex: 0, endOfPassWriteIndex: 1 } } : {});
  pass.setPipeline(pipeline);
  pass.setBindGroup(0, group);
  pass.dispatchWorkgroups(groups);
  pass.end();
  enc.copyBufferToBuffer(out, 0, read, 0, outWords * 4);
  if (qs && qb && qr) {
    enc.resolveQuerySet(qs, 0, 2, qb, 0);
    enc.copyBufferToBuffer(qb, 0, qr, 0, 16);
  }
  device.queue.submit([enc.finish()]);
  const err = await device.popErrorScope();
  if (err) throw new Error(err.message);
  await read.mapAsync(1);
  const result = new Float32Array(read.getMappedRange().slice(0));
  read.unmap();
  let ms = NaN;
  if (qr) {
    await qr.mapAsync(1);
    const t = new BigUint64Array(qr.getMappedRange().slice(0));
    qr.unmap();
    ms = Number(t[1] - t[0]) / 1e6;
  }
  return { out: result, ms };
}

const SG = info.subgroupMaxSize ?? 32;
const tests = report.tests as unknown[];

// plain f32 FMA loop: 4 independent chains of vec4 per invocation
const ITER = 4096;
const GROUPS = 132 * 64;
const fmaCode = `
@group(0) @binding(0) var<storage, read> seed: array<f32>;
@group(0) @binding(1) var<storage, read_write> o: array<f32>;
@compute @workgroup_size(256) fn main(@builtin(global_invocation_id) g: vec3u) {
  var a = vec4f(seed[0]); var b = a + 1.0; var c = a + 2.0; var d = a + 3.0;
  let m = vec4f(seed[1]); let k = vec4f(seed[2]);
  for (var i = 0u; i < ${ITER}u; i++) { a = fma(a, m, k); b = fma(b, m, k); c = fma(c, m, k); d = fma(d, m, k); }
  let s = a + b + c + d;
  if (dot(s, vec4f(1.0)) == 12345.0) { o[g.x] = s.y; } // every lane live: none of the FMAs is dead code
}`;
try {
  await runShader(fmaCode, [new Float32Array([0.5, 0.999, 0.001])], 256 * GROUPS, GROUPS, true);
  const r = await runShader(fmaCode, [new Float32Array([0.5, 0.999, 0.001])], 256 * GROUPS, GROUPS, true);
  const flops = 2 * 16 * ITER * 256 * GROUPS;
  tests.push({ path: 'f32 fma loop', ms: r.ms, tflops: flops / r.ms / 1e9 });
} catch (e) {
  tests.push({ path: 'f32 fma loop', error: (e as Error).message });
}

const wgslType: Record<string, string> = { f32: 'f32', f16: 'f16', u32: 'u32', i32: 'i32', u8: 'u8', i8: 'i8' };
for (const c of device.features.has(FEATURE) ? configs : []) {
  const t = wgslType[c.componentType];
  const r = wgslType[c.resultComponentType];
  const label = `${c.componentType}->${c.resultComponentType} ${c.M}x${c.N}x${c.K}`;
  if (t !== 'f32' && t !== 'f16') {
    tests.push({ path: label, skipped: 'integer types' });
    continue;
  }
  if ((t === 'f16' || r === 'f16') && !device.features.has('shader-f16')) {
    tests.push({ path: label, skipped: 'needs shader-f16, which the adapter does not offer' });
    continue;
  }
  const enableF16 = t === 'f16' || r === 'f16' ? 'enable f16;' : '';
  // known answer: C[M x N] = A[M x K] · B[K x N], row-major; storage arrays are f32 (converted for f16)
  const { M, N, K } = c;
  const A = Float32Array.from({ length: M * K }, (_, i) => ((i * 7) % 11) / 8 - 0.5);
  const B = Float32Array.from({ length: K * N }, (_, i) => ((i * 5) % 13) / 8 - 0.75);
  const want = new Float64Array(M * N);
  for (let i = 0; i < M; i++) for (let j = 0; j < N; j++) for (let k = 0; k < K; k++) want[i * N + j] += A[i * K + k] * B[k * N + j];
  const conv = t === 'f16'
    ? `var<workgroup> ah: array<f16, ${M * K}>; var<workgroup> bh: array<f16, ${K * N}>; var<workgroup> ch: array<${r}, ${M * N}>;`
    : '';
  const body = t === 'f16'
    ? `for (var i = lid; i < ${M * K}u; i += ${SG}u) { ah[i] = f16(a[i]); }
       for (var i = lid; i < ${K * N}u; i += ${SG}u) { bh[i] = f16(b[i]); }
       workgroupBarrier();
       let l = subgroupMatrixLoad<subgroup_matrix_left<f16, ${K}, ${M}>>(&ah, 0, false, ${K});
       let rr = subgroupMatrixLoad<subgroup_matrix_right<f16, ${N}, ${K}>>(&bh, 0, false, ${N});
       let acc = subgroupMatrixMultiplyAccumulate(l, rr, subgroup_matrix_result<${r}, ${N}, ${M}>());
       subgroupMatrixStore(&ch, 0, acc, false, ${N});
       workgroupBarrier();
       for (var i = lid; i < ${M * N}u; i += ${SG}u) { o[i] = f32(ch[i]); }`
    : `let l = subgroupMatrixLoad<subgroup_matrix_left<f32, ${K}, ${M}>>(&a, 0, false, ${K});
       let rr = subgroupMatrixLoad<subgroup_matrix_right<f32, ${N}, ${K}>>(&b, 0, false, ${N});
       let acc = subgroupMatrixMultiplyAccumulate(l, rr, subgroup_matrix_result<${r}, ${N}, ${M}>());
       subgroupMatrixStore(&o, 0, acc, false, ${N});`;
  const code = `enable chromium_experimental_subgroup_matrix; ${enableF16}
@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
@group(0) @binding(2) var<storage, read_write> o: array<f32>;
${conv}
@compute @workgroup_size(${SG}) fn main(@builtin(local_invocation_index) lid: u32) { ${body} }`;
  const entry: Record<string, unknown> = { path: label };
  try {
    const got = (await runShader(code, [A, B], M * N, 1, false)).out;
    let maxErr = 0;
    for (let i = 0; i < M * N; i++) maxErr = Math.max(maxErr, Math.abs(got[i] - want[i]));
    entry.maxAbsError = maxErr;
  } catch (e) {
    entry.error = (e as Error).message.slice(0, 400);
  }
  if (t === 'f32' && entry.error === undefined) {
    // throughput: each subgroup keeps 4 accumulators in registers and multiplies ITER2 times
    const ITER2 = 2048;
    const tput = `enable chromium_experimental_subgroup_matrix;
@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
@group(0) @binding(2) var<storage, read_write> o: array<f32>;
@compute @workgroup_size(${SG * 4}) fn main(@builtin(workgroup_id) wg: vec3u) {
  let l = subgroupMatrixLoad<subgroup_matrix_left<f32, ${K}, ${M}>>(&a, 0, false, ${K});
  let rr = subgroupMatrixLoad<subgroup_matrix_right<f32, ${N}, ${K}>>(&b, 0, false, ${N});
  var c0 = subgroup_matrix_result<f32, ${N}, ${M}>(); var c1 = c0; var c2 = c0; var c3 = c0;
  for (var i = 0u; i < ${ITER2}u; i++) {
    c0 = subgroupMatrixMultiplyAccumulate(l, rr, c0); c1 = subgroupMatrixMultiplyAccumulate(l, rr, c1);
    c2 = subgroupMatrixMultiplyAccumulate(l, rr, c2); c3 = subgroupMatrixMultiplyAccumulate(l, rr, c3);
  }
  if (wg.x == 0u) { // workgroup-uniform; every subgroup stores the same values
    subgroupMatrixStore(&o, 0, c0, false, ${N}); subgroupMatrixStore(&o, ${M * N}, c3, false, ${N}); }
}`;
    try {
      await runShader(tput, [A, B], 2 * M * N, GROUPS, true);
      const res = await runShader(tput, [A, B], 2 * M * N, GROUPS, true);
      entry.throughputMs = res.ms;
      entry.tflops = (2 * M * N * K * 4 * ITER2 * 4 * GROUPS) / res.ms / 1e9;
    } catch (e) {
      entry.throughputError = (e as Error).message.slice(0, 400);
    }
  }
  tests.push(entry);
}
console.log(JSON.stringify(tests, null, 1));
const outFile = parseFlags({}).positionals[0];
if (outFile) await writeJson(outFile, report);
device.destroy();
process.exit(0);
