// The matrix-unit backward (gpu/attention-backward-mma.ts) needs a GPU with subgroup matrices, which
// CI lacks (bench/gpu/mma.ts checks dQ, dK and dV on the GPU machine; test/deno/webgpu-mma-wgsl.test.ts
// validates the WGSL with the matrices mocked). Here, without a device: which problems it takes, the
// tile it picks under a workgroup-memory limit, and that every generated program declares each name
// it uses and declares exactly the workgroup memory it claims.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { AttentionDkDvMmaProgram, AttentionDqMmaProgram, mmaBackwardBlocker, mmaBackwardTile, type MmaBackwardTile } from '../gpu/attention-backward-mma.js';
import type { GpuContext } from '../gpu/context.js';
import type { AttentionProblem } from '../src/backend.js';
import { compileLayout } from '../src/layouts/compile.js';

const ctxWith = (o: Partial<{ available: boolean; storage: number }> = {}): GpuContext =>
  ({
    matrix: { available: o.available ?? true, reason: 'no matrices here' },
    subgroupSize: 32,
    limits: { maxComputeWorkgroupStorageSize: o.storage ?? 49152 },
  }) as unknown as GpuContext;

function problem(o: Partial<{ N: number; D: number; block: number; rpe: boolean }> = {}): AttentionProblem {
  const N = o.N ?? 256;
  const block = o.block ?? 64;
  const D = o.D ?? 64;
  const R = Math.ceil(N / block);
  return {
    B: 1, H: 2, Hkv: 1, N, Nk: N, kvStride: N, D, qOffset: new Int32Array(1), q: new Float32Array(0), k: new Float32Array(0), v: new Float32Array(0),
    layout: compileLayout({ block, shape: [2, R, R], data: new Uint8Array(2 * R * R).fill(1) }),
    scale: 1, causal: true, rpe: o.rpe ? new Float32Array(2 * N * N) : null, keyPadding: null, attnMask: null,
  };
}

const bytesOf = (src: string): number => {
  let bytes = 0;
  for (const m of src.matchAll(/var<workgroup> \w+: array<(f16|f32), (\d+)>/g)) bytes += Number(m[2]) * (m[1] === 'f16' ? 2 : 4);
  return bytes;
};

test('mmaBackwardBlocker: the forward\'s shapes, and a workgroup-memory limit', () => {
  assert.is(mmaBackwardBlocker(ctxWith(), problem()), null);
  assert.is(mmaBackwardBlocker(ctxWith(), problem({ block: 16, D: 32 })), null);
  assert.is(mmaBackwardBlocker(ctxWith({ available: false }), problem()), 'no matrices here');
  assert.match(mmaBackwardBlocker(ctxWith(), problem({ N: 200 }))!, /partial last block/);
  assert.match(mmaBackwardBlocker(ctxWith(), problem({ rpe: true }))!, /rpe or masks/);
  assert.match(mmaBackwardBlocker(ctxWith({ storage: 3000 }), problem({ D: 64 }))!, /bytes of workgroup memory for the backward/);
});

test('mmaBackwardTile: the first tile that fits the block, the threads and the memory', () => {
  const limits = { bytes: 49152, invocations: 256, lanes: 32 };
  assert.equal(mmaBackwardTile(128, 64, limits), { groups: 1, subgroups: 8, step: 16, stage: true });
  // 4 subgroups of 16 rows at most in a 64-block, 1 in a 16-block
  assert.equal(mmaBackwardTile(64, 128, limits), { groups: 1, subgroups: 4, step: 16, stage: true });
  assert.equal(mmaBackwardTile(16, 32, limits), { groups: 1, subgroups: 1, step: 16, stage: false });
  // a small memory leaves the unstaged single subgroup; 64-lane subgroups, 4 of them in 256 threads
  assert.equal(mmaBackwardTile(128, 64, { ...limits, bytes: 8192 }), { groups: 1, subgroups: 1, step: 16, stage: false });
  assert.equal(mmaBackwardTile(128, 64, { ...limits, lanes: 64 }), { groups: 1, subgroups: 4, step: 16, stage: true });
  assert.equal(mmaBackwardTile(128, 64, { ...limits, lanes: 16 }), { groups: 1, subgroups: 8, step: 16, stage: true });
});

test('AttentionDqMmaProgram, AttentionDkDvMmaProgram: every upper-case name declared; memory as claimed', () => {
  const declared = new Set(['MASKED', 'THRESH', 'LOG2E', 'D', 'BLK', 'BR', 'GR', 'WS', 'DS', 'PS', 'KS']);
  const tiles: MmaBackwardTile[] = [
    { groups: 1, subgroups: 8, step: 16, stage: true },
    { groups: 2, subgroups: 2, step: 32, stage: true },
    { groups: 1, subgroups: 1, step: 32, stage: false },
    { groups: 1, subgroups: 1, step: 16, stage: false },
  ];
  for (const tile of tiles) {
    for (const [block, D, causal] of [[128, 64, false], [64, 128, true], [16, 32, true]] as const) {
      if (tile.step > block || 16 * tile.groups * tile.subgroups > block) continue;
      const programs = [
        ['dq', new AttentionDqMmaProgram(block, D, causal, 32, tile)],
        ['dkdv', new AttentionDkDvMmaProgram(block, D, causal, 32, tile, false)],
        ['dkdv', new AttentionDkDvMmaProgram(block, D, causal, 32, tile, true)],
      ] as const;
      for (const [side, p] of programs) {
        const src = p.source();
        const names = new Set(src.replace(/\/\/.*$/gm, '').match(/\b[A-Z][A-Z0-9_]*\b/g) ?? []);
        for (const n of names) assert.ok(declared.has(n), `${p.name} ${p.shaderKey}: ${n} is not declared`);
        assert.is(bytesOf(src), (p.constructor as unknown as { workgroupBytes(s: string, D: number, t: MmaBackwardTile): number }).workgroupBytes(side, D, tile), `${p.name} ${p.shaderKey}`);
        assert.is(p.workgroupSize, 32 * tile.subgroups);
        assert.ok(src.startsWith('enable f16;\nenable chromium_experimental_subgroup_matrix;'), p.shaderKey);
        // the walked operands are vec4 loads exactly when staged
        const walked = side === 'dq' ? ['k', 'v'] : ['q', 'dout'];
        for (const x of walked) assert.is(src.includes(`var<storage, read> ${x}: array<vec4<f16>>`), tile.stage, `${p.shaderKey}: ${x}`);
      }
    }
  }
});

test.run();
