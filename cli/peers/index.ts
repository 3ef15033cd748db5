// --peers: other libraries timed on the same inputs, each where installed. None is a dependency of
// blocksparse; a missing one is skipped with a note saying what to install. A peer times itself
// (a library may need a session built first, which is not part of the figure) and says which of
// our layouts it stands in for: 'dense' peers (full attention) run beside the Dense layout only,
// 'sparse' peers take each layout they support.
import type { Layout } from '../../src/types.js';
import type { Op } from '../results.js';
import type { Inputs } from '../workloads.js';

export interface PeerProblem {
  inputs: Inputs;
  layout: Layout;
  layoutName: string;
  scale: number;
}

export interface PeerPolicy {
  warmup: number;
  /** Timed runs at most… */
  reps: number;
  /** …stopping once they add up to this many ms (at least one run is kept). */
  capMs: number;
}

export interface PeerMeasurement {
  samples: number[];
  warmup: number;
  /** [B, H, N, D] outputs, compared with the fused kernels' at the smallest N. */
  outputs?: Float32Array[];
  notes?: string[];
}

export interface Peer {
  /** Short id, used in results as impl `peer:<id>`. */
  readonly id: string;
  readonly label: string;
  /** 'dense': runs only for the Dense layout; 'sparse': runs for every layout it supports. */
  readonly kind: 'dense' | 'sparse';
  readonly ops: readonly Op[];
  /** null when it can run here, else why not (the skip note). */
  probe(): Promise<string | null>;
  /** Versions, providers, threads: for results.json, after a successful probe. */
  info(): Record<string, unknown>;
  /** Times the peer on this problem, or says why it cannot run this one. */
  measure(p: PeerProblem, op: Op, policy: PeerPolicy): Promise<PeerMeasurement | string>;
  close(): Promise<void>;
}

/** Every peer the bench knows, in the order they run; `threads` is what they may use. */
export async function allPeers(threads: number): Promise<Peer[]> {
  const { onnxruntimePeers } = await import('./ort-peer.js');
  return onnxruntimePeers(threads);
}
