// The device and GpuContext the GPU benches time on, set up as the WebGPU backend sets up its own
// (gpu/index.ts): the matrix units on where the acquisition found them, so half-float operands take
// the program the engine would take.
import { GpuContext } from '../../gpu/context.js';
import { acquireDevice, type AcquiredDevice } from '../../gpu/device.js';

export interface BenchDevice {
  readonly acq: AcquiredDevice;
  readonly ctx: GpuContext;
}

/** `experimental`: Dawn's toggles (EXPERIMENTAL_DAWN_FEATURES) that expose shader-f16 on NVIDIA and the subgroup matrices. */
export async function benchDevice(experimental: boolean): Promise<BenchDevice> {
  const acq = await acquireDevice({ experimental });
  const ctx = new GpuContext(acq.device, acq.limits, acq.timestampQuery, acq.subgroupSize);
  ctx.matrix = acq.matrix;
  return { acq, ctx };
}
