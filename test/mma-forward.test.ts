// The matrix-unit forward (gpu/attention-forward-mma.ts) needs a GPU with subgroup matrices, which
// CI lacks (bench/gpu/mma.ts checks its numbers on the GPU machine). Here, without a device: which
// problems it takes and why it refuses the others, and that every generated program declares each
// name it uses and stays within the workgroup memory it claims.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { AttentionForwardMmaProgram, mmaForwardBlocker, mmaTile, type MmaTile } from '../gpu/attention-forward-mma.js';
import type { GpuContext } from '../gpu/context.js';
import type { AttentionProblem } from '../src/backend.js';
import { compileLayout } from '../src/layouts/compile.js';

const ctxWith = (o: Partial<{ available: boolean; subgroupSize: number; storage: number }> = {}): GpuContext =>
  ({
    matrix: { available: o.available ?? true, reason: 'no matrices here' },
    subgroupSize: o.subgroupSize ?? 32,
    limits: { maxComputeWorkgroupStorageSize: o.storage ?? 49152 },
  }) as unknown as GpuContext;

function problem(o: Partial<{ N: number; Nk: number; D: number; block: number; rpe: boolean }> = {}): AttentionProblem {
  const N = o.N ?? 256;
  const block = o.block ?? 64;
  const D = o.D ?? 64;
  const Nk = o.Nk ?? N;
  const R = Math.ceil(N / block);
  const C = Math.ceil(Nk / block);
  return {
    B: 1, H: 2, Hkv: 1, N, Nk, kvStride: Nk, D, qOffset: new Int32Array(1), q: new Float32Array(0), k: new Float32Array(0), v: new Float32Array(0),
    layout: compileLayout({ block, shape: [2, R, C], data: new Uint8Array(2 * R * C).fill(1) }),
    scale: 1, causal: true, rpe: o.rpe ? new Float32Array(2 * N * Nk) : null, keyPadding: null, attnMask: null,
  };
}

test('mmaForwardBlocker: takes self-attention shapes, says why not for the rest', () => {
  assert.is(mmaForwardBlocker(ctxWith(), problem()), null);
  assert.is(mmaForwardBlocker(ctxWith(), problem({ block: 16, D: 32 })), null);
  assert.is(mmaForwardBlocker(ctxWith({ available: false }), problem()), 'no matrices here');
  assert.match(mmaForwardBlocker(ctxWith({ subgroupSize: 0 }), problem())!, /subgroups of unknown lanes/);
  assert.match(mmaForwardBlocker(ctxWith(), problem({ D: 40 }))!, /head dim 40/);
  assert.match(mmaForwardBlocker(ctxWith(), problem({ N: 200 }))!, /partial last block/);
  assert.match(mmaForwardBlocker(ctxWith(), problem({ Nk: 512 }))!, /queries against 512 keys/);
  assert.match(mmaForwardBlocker(ctxWith(), problem({ rpe: true }))!, /rpe or masks/);
  assert.match(mmaForwardBlocker(ctxWith({ storage: 1024 }), problem({ block: 128, D: 128 }))!, /bytes of workgroup memory/);
});

test('mmaTile: the first tile that fits the block, the threads and the memory', () => {
  const limits = { bytes: 49152, invocations: 256, lanes: 32 };
  assert.equal(mmaTile(128, 64, limits), { groups: 1, subgroups: 8, keys: 16, stage: true });
  assert.equal(mmaTile(128, 128, limits), { groups: 1, subgroups: 8, keys: 16, stage: true });
  // 8 subgroups of 64 lanes are 512 threads, past the 256 a device must allow
  assert.equal(mmaTile(128, 64, { ...limits, lanes: 64 }), { groups: 1, subgroups: 4, keys: 64, stage: true });
  assert.equal(mmaTile(16, 32, limits), { groups: 1, subgroups: 1, keys: 16, stage: false });
});

test('AttentionForwardMmaProgram: every upper-case name it uses is declared; memory as claimed', () => {
  const declared = new Set(['MASKED', 'THRESH', 'D', 'BLK', 'BC', 'BR', 'WS']);
  const limits = { bytes: 49152, invocations: 256, lanes: 32 };
  const tiles: MmaTile[] = [mmaTile(128, 64, limits), mmaTile(16, 32, limits), mmaTile(64, 256, limits), { groups: 2, subgroups: 2, keys: 32, stage: true }, { groups: 2, subgroups: 1, keys: 64, stage: false }, { groups: 1, subgroups: 4, keys: 64, stage: true }];
  for (const tile of tiles) {
    for (const [block, D, causal] of [[128, 64, false], [64, 128, true], [16, 32, true]] as const) {
      if (tile.keys > block || 16 * tile.groups * tile.subgroups > block) continue;
      const p = new AttentionForwardMmaProgram(block, D, causal, 32, true, tile);
      const src = p.source();
      const names = new Set(src.replace(/\/\/.*$/gm, '').match(/\b[A-Z][A-Z0-9_]*\b/g) ?? []);
      for (const n of names) assert.ok(declared.has(n), `${p.shaderKey}: ${n} is not declared`);
      let bytes = 0;
      for (const m of src.matchAll(/var<workgroup> \w+: array<(f16|f32), (\d+)>/g)) bytes += Number(m[2]) * (m[1] === 'f16' ? 2 : 4);
      assert.is(bytes, AttentionForwardMmaProgram.workgroupBytes(D, tile), p.shaderKey);
      assert.ok(src.startsWith('enable f16;\nenable chromium_experimental_subgroup_matrix;'), p.shaderKey);
      assert.match(src, /@builtin\(subgroup_id\) sgi: u32/);
    }
  }
});

test.run();
