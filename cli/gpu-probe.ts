/// <reference types="@webgpu/types" />
// Is there a WebGPU adapter? Asked before the CPU runs, only to share the time budget fairly: it
// requests an adapter but never a device, because on Linux/Vulkan Dawn's requestDevice() starts a
// busy poll of about one core that would skew every CPU figure (docs/DESIGN.md, "Platform pitfalls"; dawn-gpu/node-webgpu#17).
// The WebGPU engine itself is created after the CPU runs, and closed before the report.

export async function probeAdapter(timeoutMs = 5000): Promise<{ available: true; description: string } | { available: false; reason: string }> {
  const g = globalThis as { navigator?: { gpu?: GPU }; Deno?: unknown; process?: { versions?: { node?: string } } };
  let gpu: GPU | undefined = g.navigator?.gpu;
  if (!gpu) {
    if (g.Deno) return { available: false, reason: 'navigator.gpu is missing (run Deno with --unstable-webgpu)' };
    if (typeof g.process?.versions?.node !== 'string') return { available: false, reason: 'navigator.gpu is missing' };
    try {
      const name = 'webgpu'; // a variable, so that bundlers leave the optional dependency alone
      const mod = (await import(name)) as { create(flags: string[]): GPU };
      gpu = mod.create([]);
    } catch (e) {
      return { available: false, reason: `the optional 'webgpu' package did not load (${(e as Error).message.split('\n')[0]})` };
    }
  }
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    const adapter = await Promise.race([
      gpu.requestAdapter(),
      new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), timeoutMs))),
    ]);
    if (!adapter) return { available: false, reason: 'requestAdapter() found no adapter' };
    const info = (adapter as GPUAdapter & { info?: GPUAdapterInfo }).info;
    const description = [info?.vendor, info?.architecture, info?.device, info?.description].filter(Boolean).join(' ') || 'an adapter';
    return { available: true, description };
  } catch (e) {
    return { available: false, reason: `requestAdapter() failed: ${(e as Error).message}` };
  } finally {
    clearTimeout(timer);
  }
}
