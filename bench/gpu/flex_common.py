# What the FlexAttention scripts share (flex_attention.py, flex_gqa.py, flex_decode.py): fp32 with TF32 off, a
# compiled flex_attention with Dynamo's recompile limits raised (one kernel per N, dtype and grad;
# past the limit later sizes silently fall back to the eager path, which materialises the N×N
# scores and runs out of memory), and the median of CUDA-event timings after warm-up.
import statistics
import torch
import torch._dynamo
from torch.nn.attention.flex_attention import flex_attention

torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False
torch.set_float32_matmul_precision('highest')
for name in ('cache_size_limit', 'recompile_limit', 'accumulated_cache_size_limit', 'accumulated_recompile_limit'):
    if hasattr(torch._dynamo.config, name):
        setattr(torch._dynamo.config, name, 256)
flex = torch.compile(flex_attention, dynamic=False)


def timed(fn, warm, reps):
    """(median, min) of reps timings in ms, after warm runs."""
    for _ in range(warm):
        fn()
    torch.cuda.synchronize()
    ts = []
    for _ in range(reps):
        s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        s.record(); fn(); e.record(); torch.cuda.synchronize()
        ts.append(s.elapsed_time(e))
    return statistics.median(ts), min(ts)
