// The matrix-unit programs' WGSL (gpu/attention-forward-mma.ts, gpu/attention-backward-mma.ts)
// through naga's validation on lavapipe, which has no subgroup matrices: the matrix builtins and
// types are replaced by f32 stand-ins first, so that everything else (declarations, indices, types,
// loops, the lanes' arithmetic) is checked in CI; the matrix builtins themselves are checked on the
// GPU machine (bench/gpu/mma.ts). Skipped, with the reason, without an adapter that has shader-f16.
import { AttentionDkDvMmaProgram, AttentionDqMmaProgram, type MmaBackwardTile } from '../../gpu/attention-backward-mma.ts';
import { AttentionForwardMmaProgram, type MmaTile } from '../../gpu/attention-forward-mma.ts';
import type { Program } from '../../gpu/program.ts';

let device: GPUDevice | null = null;
let skipReason = '';
try {
  const adapter = await navigator.gpu?.requestAdapter();
  if (!adapter) skipReason = 'no WebGPU adapter';
  else if (!adapter.features.has('shader-f16')) skipReason = 'the adapter has no shader-f16';
  else device = await adapter.requestDevice({ requiredFeatures: ['shader-f16'] });
} catch (e) {
  skipReason = (e as Error).message;
}
if (skipReason) console.warn(`matrix-unit WGSL tests skipped: ${skipReason}`);
function check(ok: boolean, message: string): void {
  if (!ok) throw new Error(message);
}
const opts = { ignore: device === null, sanitizeOps: false, sanitizeResources: false };

/** The WGSL with the subgroup-matrix types as f32 and the builtins as arithmetic on their operands. */
function mockMatrices(wgsl: string): string {
  const s = wgsl
    .replace('enable chromium_experimental_subgroup_matrix;\n', '')
    .replace('enable subgroups;\n', '')
    .replace(', @builtin(subgroup_invocation_id) sgid: u32, @builtin(subgroup_id) sgi: u32', '')
    .replace('run(wg, lid, sgid, sgi);', 'run(wg, lid, lid, 0u);')
    .replace(/subgroup_matrix_(left|right|result)<f(16|32), 16, 16>/g, 'f32')
    .replace(/subgroupMatrixLoad<f32>\(&(\w+), ([^,]+), (true|false), ([^)]+)\)/g, 'f32($1[$2 + $4])')
    .replace(/subgroupMatrixStore\(&(\w+), ([^,]+), ([^,]+), (true|false), ([^)]+)\);/g, '$1[$2 + $5] = $3;')
    .replace(/subgroupMatrixMultiplyAccumulate\(([^,]+), ([^,]+), ([^)]+)\)/g, '($1 * $2 + $3)')
    .replace(/subgroupShuffleXor\(([^,]+), ([^)]+)\)/g, '($1 + f32($2))');
  return s;
}

/** naga's verdict on the program's mocked WGSL: null, or the error. */
async function validate(wgsl: string): Promise<string | null> {
  const d = device!;
  d.pushErrorScope('validation');
  const module = d.createShaderModule({ code: wgsl });
  d.createComputePipeline({ layout: 'auto', compute: { module, entryPoint: 'main' } });
  const err = await d.popErrorScope();
  return err ? err.message : null;
}

async function assertValid(p: Program, label: string): Promise<void> {
  const mocked = mockMatrices(p.source());
  check(!/subgroup_?[mM]atrix/.test(mocked), `${label}: a matrix builtin or type the mock does not cover`);
  const err = await validate(mocked);
  check(err === null, `${label}: ${err}`);
}

const FORWARD_TILES: MmaTile[] = [
  { groups: 1, subgroups: 8, keys: 16, stage: true },
  { groups: 2, subgroups: 1, keys: 32, stage: false },
  { groups: 1, subgroups: 4, keys: 64, stage: true },
  { groups: 1, subgroups: 1, keys: 16, stage: false },
  { groups: 1, subgroups: 8, keys: 16, stage: true, double: true },
  { groups: 2, subgroups: 4, keys: 16, stage: true, double: true },
];

Deno.test('matrix-unit forward: the WGSL of each tile validates with the matrices mocked', opts, async () => {
  for (const [block, D, causal] of [[128, 64, false], [128, 128, true], [64, 128, true], [16, 32, true]] as const) {
    for (const tile of FORWARD_TILES) {
      if (tile.keys > block || 16 * tile.groups * tile.subgroups > block) continue;
      for (const halfOut of [true, false]) {
        await assertValid(new AttentionForwardMmaProgram(block, D, causal, 32, halfOut, tile), `forward b${block} D${D} causal ${causal} ${JSON.stringify(tile)}`);
      }
    }
  }
});

Deno.test('matrix-unit backward: dQ and dK/dV validate with the matrices mocked (tiles, staging, causal, GQA)', opts, async () => {
  const tiles: MmaBackwardTile[] = [
    { groups: 1, subgroups: 8, step: 16, stage: true },
    { groups: 1, subgroups: 4, step: 32, stage: true },
    { groups: 1, subgroups: 1, step: 32, stage: false },
    { groups: 2, subgroups: 2, step: 16, stage: true },
  ];
  for (const [block, D, causal] of [[64, 64, true], [128, 128, false], [16, 32, true], [32, 256, false]] as const) {
    for (const tile of tiles) {
      if (tile.step > block || 16 * tile.groups * tile.subgroups > block) continue;
      const label = `b${block} D${D} causal ${causal} ${JSON.stringify(tile)}`;
      await assertValid(new AttentionDqMmaProgram(block, D, causal, 32, tile), `dQ ${label}`);
      for (const grouped of [false, true]) await assertValid(new AttentionDkDvMmaProgram(block, D, causal, 32, tile, grouped), `dK/dV ${label} grouped ${grouped}`);
    }
  }
});

Deno.test('matrix-unit WGSL check: a broken program fails it', opts, async () => {
  const p = new AttentionDqMmaProgram(64, 64, true, 32, { groups: 1, subgroups: 1, step: 32, stage: false });
  const broken = mockMatrices(p.source()).replace('let sc = u.scale * LOG2E;', 'let sc: u32 = u.scale * LOG2E;');
  check((await validate(broken)) !== null, 'a u32 initialised from an f32 must not validate');
  device?.destroy();
});
