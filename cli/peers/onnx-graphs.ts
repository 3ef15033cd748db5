// ONNX models for the ONNX Runtime peers, built in memory with `onnx-proto` (the onnx.proto schema
// compiled by protobufjs; no hand-written encoder). Two contrib operators of the `com.microsoft`
// domain, version 1 (the only version either has):
//
// - SparseAttention: inputs query, key, value [B, S, H*D] (BSNH, not our BHND), past_key and
//   past_value [B, kvH, maxCache, D] (required: the CPU kernel only supports a KV cache that shares
//   its buffer with present_key / present_value, so the caller binds the same tensor as both the
//   past_* feed and the present_* fetch), block_row_indices [numLayout, R + 1] and
//   block_col_indices [numLayout, maxNnz] (int32 CSR of the block layout; head h uses layout
//   h % numLayout), total_sequence_length [1] and key_total_sequence_lengths [B] (int32).
//   Attributes num_heads, kv_num_heads, scale (0 means 1/sqrt(D)), sparse_block_size, do_rotary = 0.
//   Always causal at token level. Registered on the CPU EP for float and MLFloat16, so fp32 runs on
//   the CPU; head size must be a multiple of 8. The CPU kernel is not block-sparse inside: it runs a
//   dense S×T GEMM per head, then masks the kept blocks before a row softmax, and allocates
//   B·H·S·T floats of probabilities (512 MiB at B=1, H=8, N=4096).
// - MultiHeadAttention: inputs query, key, value [B, S, H*D]; attributes num_heads, scale,
//   unidirectional (1: causal). Float on the CPU EP.
//
// - Dense attention from standard ai.onnx ops (opset 17): Transpose, MatMul, Mul, Add (an [S, S]
//   additive causal mask fed as an input), Softmax, MatMul over [B, H, S, D]. A baseline for
//   runtimes whose MultiHeadAttention cannot run the problem (onnxruntime-web's wasm32 build
//   overflows a 32-bit cost estimate, 2·S·T·D ≥ 2³¹, from S = T = 4096 at D = 64).
//
// Shapes are symbolic (B, S, ...), so one model serves every sequence length.

// The slice of onnx-proto's generated API that we use (kept local so that this file type-checks
// where the package is not installed).
interface OnnxNamespace {
  ModelProto: { create(p: unknown): unknown; encode(m: unknown): { finish(): Uint8Array } };
  TensorProto: { DataType: { FLOAT: number; INT32: number } };
  AttributeProto: { AttributeType: { FLOAT: number; INT: number } };
}

let cached: Promise<OnnxNamespace | null> | undefined;
let loadError = '';

/** onnx-proto's `onnx` namespace, or null when the package is not installed. */
export function loadOnnxProto(): Promise<OnnxNamespace | null> {
  cached ??= (async () => {
    try {
      const name = 'onnx-proto';
      const mod = (await import(name)) as { onnx?: OnnxNamespace; default?: { onnx: OnnxNamespace } };
      return mod.onnx ?? mod.default?.onnx ?? null;
    } catch (e) {
      loadError = (e as Error).message;
      return null;
    }
  })();
  return cached;
}

export function onnxProtoError(): string {
  return loadError;
}

type Dim = number | string;

function valueInfo(onnx: OnnxNamespace, name: string, elemType: number, dims: Dim[]) {
  return {
    name,
    type: {
      tensorType: {
        elemType,
        shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
      },
    },
  };
}

function intAttr(onnx: OnnxNamespace, name: string, i: number) {
  return { name, type: onnx.AttributeProto.AttributeType.INT, i };
}

function floatAttr(onnx: OnnxNamespace, name: string, f: number) {
  return { name, type: onnx.AttributeProto.AttributeType.FLOAT, f };
}

function model(onnx: OnnxNamespace, graph: unknown): Uint8Array {
  const m = onnx.ModelProto.create({
    irVersion: 8,
    producerName: 'blocksparse-bench',
    opsetImport: [
      { domain: '', version: 17 },
      { domain: 'com.microsoft', version: 1 },
    ],
    graph,
  });
  return onnx.ModelProto.encode(m).finish();
}

export interface SparseAttentionGraphOptions {
  /** Query heads. */
  H: number;
  /** Key/value heads (grouped-query attention when fewer); default H. */
  kvH?: number;
  D: number;
  block: number;
  /** 0 (the operator's default): 1/sqrt(D). */
  scale?: number;
}

/** Input and output names of the SparseAttention model, in the operator's order. */
export const SPARSE_INPUTS = [
  'query', 'key', 'value', 'past_key', 'past_value', 'block_row_indices', 'block_col_indices',
  'total_sequence_length', 'key_total_sequence_lengths',
] as const;
export const SPARSE_OUTPUTS = ['output', 'present_key', 'present_value'] as const;

/** A one-node model of com.microsoft.SparseAttention (version 1), fp32, do_rotary = 0. */
export function sparseAttentionModel(onnx: OnnxNamespace, o: SparseAttentionGraphOptions): Uint8Array {
  const F = onnx.TensorProto.DataType.FLOAT;
  const I = onnx.TensorProto.DataType.INT32;
  const kvH = o.kvH ?? o.H;
  const node = {
    opType: 'SparseAttention',
    domain: 'com.microsoft',
    name: 'sparse_attention',
    input: [...SPARSE_INPUTS],
    output: [...SPARSE_OUTPUTS],
    attribute: [
      intAttr(onnx, 'num_heads', o.H),
      intAttr(onnx, 'kv_num_heads', kvH),
      floatAttr(onnx, 'scale', o.scale ?? 0),
      intAttr(onnx, 'sparse_block_size', o.block),
      intAttr(onnx, 'do_rotary', 0),
    ],
  };
  const graph = {
    name: 'sparse_attention',
    node: [node],
    input: [
      valueInfo(onnx, 'query', F, ['B', 'S', o.H * o.D]),
      valueInfo(onnx, 'key', F, ['B', 'S', kvH * o.D]),
      valueInfo(onnx, 'value', F, ['B', 'S', kvH * o.D]),
      valueInfo(onnx, 'past_key', F, ['B', kvH, 'M', o.D]),
      valueInfo(onnx, 'past_value', F, ['B', kvH, 'M', o.D]),
      valueInfo(onnx, 'block_row_indices', I, ['L', 'R1']),
      valueInfo(onnx, 'block_col_indices', I, ['L', 'NNZ']),
      valueInfo(onnx, 'total_sequence_length', I, [1]),
      valueInfo(onnx, 'key_total_sequence_lengths', I, ['B']),
    ],
    output: [
      valueInfo(onnx, 'output', F, ['B', 'S', o.H * o.D]),
      valueInfo(onnx, 'present_key', F, ['B', kvH, 'M', o.D]),
      valueInfo(onnx, 'present_value', F, ['B', kvH, 'M', o.D]),
    ],
  };
  return model(onnx, graph);
}

export interface MultiHeadAttentionGraphOptions {
  H: number;
  D: number;
  /** unidirectional = 1 when true. */
  causal: boolean;
  /** 0 or absent: 1/sqrt(D). */
  scale?: number;
}

/** A one-node model of dense com.microsoft.MultiHeadAttention (version 1), fp32, BSNH inputs. */
export function multiHeadAttentionModel(onnx: OnnxNamespace, o: MultiHeadAttentionGraphOptions): Uint8Array {
  const F = onnx.TensorProto.DataType.FLOAT;
  const attribute = [intAttr(onnx, 'num_heads', o.H), intAttr(onnx, 'unidirectional', o.causal ? 1 : 0)];
  if (o.scale !== undefined && o.scale !== 0) attribute.push(floatAttr(onnx, 'scale', o.scale) as never);
  const graph = {
    name: o.causal ? 'mha_causal' : 'mha',
    node: [{
      opType: 'MultiHeadAttention',
      domain: 'com.microsoft',
      name: 'mha',
      input: ['query', 'key', 'value'],
      output: ['output'],
      attribute,
    }],
    input: ['query', 'key', 'value'].map((n) => valueInfo(onnx, n, F, ['B', 'S', o.H * o.D])),
    output: [valueInfo(onnx, 'output', F, ['B', 'S', o.H * o.D])],
  };
  return model(onnx, graph);
}

export interface DenseOpsGraphOptions {
  H: number;
  D: number;
  /** Adds the input `mask` [S, S] (0 kept, -Infinity dropped) to the scaled scores. */
  causal: boolean;
  scale: number;
}

/** Dense attention over [B, H, S, D] from standard ops: softmax(q·kᵀ·scale (+ mask))·v. */
export function denseAttentionOpsModel(onnx: OnnxNamespace, o: DenseOpsGraphOptions): Uint8Array {
  const F = onnx.TensorProto.DataType.FLOAT;
  const node: unknown[] = [
    { opType: 'Transpose', input: ['key'], output: ['key_t'], attribute: [{ name: 'perm', type: 7 /* INTS */, ints: [0, 1, 3, 2] }] },
    { opType: 'MatMul', input: ['query', 'key_t'], output: ['scores'] },
    { opType: 'Mul', input: ['scores', 'scale'], output: ['scaled'] },
  ];
  let logits = 'scaled';
  if (o.causal) {
    node.push({ opType: 'Add', input: ['scaled', 'mask'], output: ['masked'] });
    logits = 'masked';
  }
  node.push(
    { opType: 'Softmax', input: [logits], output: ['probs'], attribute: [intAttr(onnx, 'axis', -1)] },
    { opType: 'MatMul', input: ['probs', 'value'], output: ['output'] },
  );
  const input = ['query', 'key', 'value'].map((n) => valueInfo(onnx, n, F, ['B', o.H, 'S', o.D]));
  if (o.causal) input.push(valueInfo(onnx, 'mask', F, ['S', 'S']));
  const graph = {
    name: o.causal ? 'dense_ops_causal' : 'dense_ops',
    node,
    input,
    output: [valueInfo(onnx, 'output', F, ['B', o.H, 'S', o.D])],
    initializer: [{ name: 'scale', dataType: F, dims: [], floatData: [o.scale] }],
  };
  return model(onnx, graph);
}

export interface GroupQueryAttentionGraphOptions {
  H: number;
  kvH: number;
  D: number;
  /** Tokens a query sees, itself included (local_window_size); absent or -1: all earlier tokens. */
  localWindow?: number;
  /** 0 or absent: 1/sqrt(D). */
  scale?: number;
}

/** Input and output names of the GroupQueryAttention model, in the operator's order (rotary, position ids, bias and sinks left out). */
export const GQA_INPUTS = ['query', 'key', 'value', 'past_key', 'past_value', 'seqlens_k', 'total_sequence_length'] as const;
export const GQA_OUTPUTS = ['output', 'present_key', 'present_value'] as const;

/**
 * A one-node model of com.microsoft.GroupQueryAttention (version 1), fp32, do_rotary = 0: query
 * [B, S, H*D], key and value [B, S, kvH*D], past_key / past_value [B, kvH, M, D] (BNSH; the same
 * buffer as present_* when bound so), seqlens_k [B] (total length − 1) and total_sequence_length
 * [1], int32. Always causal; local_window_size limits each query to the last tokens. The CPU
 * kernel, like SparseAttention's, computes each head's S×T scores into a B·H·S·T buffer.
 */
export function groupQueryAttentionModel(onnx: OnnxNamespace, o: GroupQueryAttentionGraphOptions): Uint8Array {
  const F = onnx.TensorProto.DataType.FLOAT;
  const I = onnx.TensorProto.DataType.INT32;
  const attribute = [
    intAttr(onnx, 'num_heads', o.H),
    intAttr(onnx, 'kv_num_heads', o.kvH),
    intAttr(onnx, 'local_window_size', o.localWindow ?? -1),
    intAttr(onnx, 'do_rotary', 0),
    floatAttr(onnx, 'scale', o.scale ?? 0),
  ];
  const graph = {
    name: 'group_query_attention',
    node: [{ opType: 'GroupQueryAttention', domain: 'com.microsoft', name: 'gqa', input: [...GQA_INPUTS], output: [...GQA_OUTPUTS], attribute }],
    input: [
      valueInfo(onnx, 'query', F, ['B', 'S', o.H * o.D]),
      valueInfo(onnx, 'key', F, ['B', 'S', o.kvH * o.D]),
      valueInfo(onnx, 'value', F, ['B', 'S', o.kvH * o.D]),
      valueInfo(onnx, 'past_key', F, ['B', o.kvH, 'M', o.D]),
      valueInfo(onnx, 'past_value', F, ['B', o.kvH, 'M', o.D]),
      valueInfo(onnx, 'seqlens_k', I, ['B']),
      valueInfo(onnx, 'total_sequence_length', I, [1]),
    ],
    output: [
      valueInfo(onnx, 'output', F, ['B', 'S', o.H * o.D]),
      valueInfo(onnx, 'present_key', F, ['B', o.kvH, 'P', o.D]),
      valueInfo(onnx, 'present_value', F, ['B', o.kvH, 'P', o.D]),
    ],
  };
  return model(onnx, graph);
}
