#!/usr/bin/env python3
"""The calls of conv-kernels.mjs made directly in PyTorch (channels_last and
NCHW): what our kernels would cost without any glue. Run with /usr/bin/python3."""
import json
import statistics
import sys
import time

import torch

N = int(sys.argv[1]) if len(sys.argv) > 1 else 128
batch, repeat = 8, 10
torch.set_num_threads(2)


def median(fn):
    fn()
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        fn()
        times.append((time.perf_counter() - began) * 1000)
    return round(statistics.median(times), 2)


with torch.no_grad():
    for size, cin, cout in [(64, N, N), (32, N, N), (128, 3, N)]:
        for fmt in (torch.channels_last, torch.contiguous_format):
            x = torch.randn(batch, cin, size, size).contiguous(memory_format=fmt)
            w = torch.randn(cout, cin, 5, 5).contiguous(memory_format=fmt)
            dy = torch.randn(batch, cout, size // 2, size // 2).contiguous(memory_format=fmt)
            bw = lambda mask: torch.ops.aten.convolution_backward(dy, x, w, None, [2, 2], [2, 2], [1, 1], False, [0, 0], 1, mask)
            print(json.dumps({
                "layer": f"{size}² {cin}->{cout}", "format": "channels_last" if fmt == torch.channels_last else "nchw",
                "forwardMs": median(lambda: torch.nn.functional.conv2d(x, w, None, 2, 2)),
                "backpropInputMs": median(lambda: bw([True, False, False])),
                "backpropFilterMs": median(lambda: bw([False, True, False])),
                "transposedConvForwardMs": median(lambda: torch.nn.functional.conv_transpose2d(dy, w, None, 2, 2, 1)),
            }))
