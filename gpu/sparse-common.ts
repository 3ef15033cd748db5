// Host side shared by the single-dispatch sparse ops (sdd, dsd, dds, softmax, softmax backward):
// inputs owned by the op's Recorder (outputs: Recorder.output), then one dispatch whose output is
// read back as f32.
import { upload, type Readback } from './buffers.js';
import type { GpuContext, Recorder } from './context.js';
import type { Program, UniformValues } from './program.js';

/** Uploads `data`, freed when the op ends. */
export function ownUpload(ctx: GpuContext, rec: Recorder, label: string, data: Float32Array | Int32Array): GPUBuffer {
  return rec.own(upload(ctx.device, ctx.limits, label, data));
}

/** Records one dispatch of `program`, runs the op and returns `out` as f32. */
export async function dispatchAndRead(
  rec: Recorder,
  program: Program,
  buffers: GPUBuffer[],
  uniforms: UniformValues,
  workgroups: number,
  out: Readback,
): Promise<Float32Array> {
  rec.dispatch(program, buffers, uniforms, workgroups);
  const [data] = await rec.run([out]);
  return new Float32Array(data);
}
