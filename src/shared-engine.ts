// The engine the modules (BlockSparseLinear, SparseSelfAttention) use when they are given none: one
// `createEngine({ backend: 'cpu' })`, made on first use, so that a layer can be used as in PyTorch
// without an engine in hand. Either module's static closeSharedEngine closes it.
import { createEngine, type Engine } from './engine.js';

let shared: Promise<Engine> | null = null;

export function sharedEngine(): Promise<Engine> {
  if (!shared) {
    const made = createEngine({ backend: 'cpu' });
    shared = made;
    made.catch(() => {
      if (shared === made) shared = null; // let a later call try again
    });
  }
  return shared;
}

/** Closes the shared engine; a later sharedEngine() makes a new one. */
export async function closeSharedEngine(): Promise<void> {
  const s = shared;
  shared = null;
  if (s) await (await s.catch(() => null))?.close();
}
