# PyTorch FlexAttention on the same layouts as bench/gpu/attention.ts --versus, for the side-by-side
# comparison of issue 6: B=1, H=16, D=64, block 128, each block row keeping itself, the 3 blocks
# before it and every 8th block column; fp32 with TF32 off (and fp16 for the stretch goal).
#   python3 bench/gpu/flex_attention.py out.json [N ...]
# Medians of CUDA-event timings after warm-up; compiled flex_attention, as PyTorch recommends.
import json, os, sys
import torch
import torch.nn.functional as F
from torch.nn.attention.flex_attention import BlockMask
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from flex_common import flex, timed

B, H, D, BLOCK = 1, 16, 64, 128
out_path = sys.argv[1] if len(sys.argv) > 1 else None
seqs = [int(x) for x in sys.argv[2:]] or [1024, 4096, 16384, 65536]


def layout(R):
    r = torch.arange(R).view(R, 1)
    c = torch.arange(R).view(1, R)
    return (((r - c) >= 0) & ((r - c) <= 3)) | (c % 8 == 0)


results = []
for N in seqs:
    R = N // BLOCK
    lay = layout(R).cuda()
    density = lay.float().mean().item()

    # Every kept block is full (no token-level mask), so the BlockMask is built from the block
    # tables directly (create_block_mask would evaluate a mask_mod over all N² positions).
    counts = lay.sum(dim=1).to(torch.int32)
    order = torch.argsort((~lay).to(torch.int8), dim=1, stable=True).to(torch.int32)  # kept columns first, ascending
    zeros = torch.zeros_like(counts)
    bm = BlockMask.from_kv_blocks(zeros[None, None], order[None, None], counts[None, None], order[None, None], BLOCK_SIZE=BLOCK)
    rec = {'N': N, 'B': B, 'H': H, 'D': D, 'block': BLOCK, 'density': density, 'nnzPerHead': int(lay.sum().item())}
    for dtype in (torch.float32, torch.float16):
        name = 'fp32' if dtype == torch.float32 else 'fp16'
        q, k, v = (torch.randn(B, H, N, D, device='cuda', dtype=dtype, requires_grad=True) for _ in range(3))
        do = torch.randn(B, H, N, D, device='cuda', dtype=dtype)
        try:
            with torch.no_grad():
                fwd = timed(lambda: flex(q, k, v, block_mask=bm), warm=5, reps=15)
            def fb():
                o = flex(q, k, v, block_mask=bm)
                o.backward(do)
            fb_t = timed(fb, warm=3, reps=9)
            rec[name] = {'forwardMs': fwd[0], 'forwardMinMs': fwd[1], 'forwardBackwardMs': fb_t[0], 'forwardBackwardMinMs': fb_t[1]}
        except Exception as e:  # an out-of-memory or compile failure is a result too
            rec[name] = {'error': str(e).split('\n')[0]}
        del q, k, v, do
        torch.cuda.empty_cache()
    if N <= 16384:
        q, k, v = (torch.randn(B, H, N, D, device='cuda') for _ in range(3))
        with torch.no_grad():
            rec['sdpaDenseFp32Ms'] = timed(lambda: F.scaled_dot_product_attention(q, k, v), warm=5, reps=15)[0]
        del q, k, v
        torch.cuda.empty_cache()
    print(json.dumps(rec), flush=True)
    results.append(rec)

meta = {'torch': torch.__version__, 'device': torch.cuda.get_device_name(0), 'tf32': False}
if out_path:
    with open(out_path, 'w') as f:
        json.dump({'meta': meta, 'results': results}, f, indent=1)
