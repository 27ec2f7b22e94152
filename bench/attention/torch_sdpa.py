"""Times PyTorch's CPU scaled_dot_product_attention (run by run.py in the
PyTorch venv). Reads a JSON list of [H, T, S, D, repeat] on stdin, prints a
JSON object {version, threads, backend, seconds: [...]} (best of `repeat`
per shape). Causal for T = S, no mask for decode (T = 1 sees every key),
fp32, both cores.
"""

import json
import sys
import time

import torch
import torch.nn.functional as F


def main():
    shapes = json.load(sys.stdin)
    torch.set_num_threads(2)
    out = []
    with torch.no_grad():
        for h, t, s, d, repeat in shapes:
            g = torch.Generator().manual_seed(0)
            q = torch.randn(1, h, t, d, generator=g)
            k = torch.randn(1, h, s, d, generator=g)
            v = torch.randn(1, h, s, d, generator=g)
            causal = t == s and t > 1
            F.scaled_dot_product_attention(q, k, v, is_causal=causal)  # warm-up
            best = float("inf")
            for _ in range(repeat):
                t0 = time.perf_counter()
                F.scaled_dot_product_attention(q, k, v, is_causal=causal)
                best = min(best, time.perf_counter() - t0)
            out.append(best)
    json.dump(dict(version=torch.__version__, threads=torch.get_num_threads(), seconds=out), sys.stdout)


if __name__ == "__main__":
    main()
