"""What encoding one window at a time costs on CUDA against a batch of eight windows (the
encoder runs so on every device since 2026-12-04, for batch invariance), float16 and
float32. Random log-mel; the median of 15 timed calls after a warm-up.

    python benchmarks/cuda_encoder_cost.py MODEL_FOLDER
"""

import sys
import time

import torch

from whisper_eas import load_model


def median_ms(fn, n=15):
    times = []
    for _ in range(n):
        torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return 1e3 * sorted(times)[n // 2]


for dtype in ("float16", "float32"):
    model = load_model(sys.argv[1], device="cuda", dtype=dtype)
    encoder = model.network.encoder
    mel = torch.randn(8, 80, 3000, device="cuda", dtype=model.dtype)
    with torch.inference_mode():
        for _ in range(3):
            encoder(mel), [encoder(mel[i : i + 1]) for i in range(8)]
        batched = median_ms(lambda: encoder(mel))
        alone = median_ms(lambda: [encoder(mel[i : i + 1]) for i in range(8)])
    print(f"{dtype}: 8 windows batched {batched:.2f} ms, one at a time {alone:.2f} ms")
