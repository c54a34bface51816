"""What encoding one window at a time costs on CUDA against a batch of eight windows (the
encoder runs so on every device since 2026-12-04, for batch invariance), float16 and
float32. Random log-mel; the median of 15 timed calls after a warm-up.

    python benchmarks/cuda_encoder_cost.py MODEL_FOLDER
"""

import argparse
import time

import torch

from whisper_eas import load_model


def median_ms(run, calls: int = 15) -> float:
    times = []
    for _ in range(calls):
        torch.cuda.synchronize()
        start = time.perf_counter()
        run()
        torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return 1e3 * sorted(times)[calls // 2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", help="name or folder")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("needs a CUDA device")
    for dtype in ("float16", "float32"):
        model = load_model(args.model, device="cuda", dtype=dtype)
        encoder = model.network.encoder
        mel = torch.randn(8, model.dims.n_mels, 3000, device="cuda", dtype=model.dtype)
        one_at_a_time = lambda: [encoder(mel[i : i + 1]) for i in range(8)]  # noqa: E731
        with torch.inference_mode():
            for _ in range(3):
                encoder(mel), one_at_a_time()
            batched, alone = median_ms(lambda: encoder(mel)), median_ms(one_at_a_time)
        print(f"{dtype}: 8 windows batched {batched:.2f} ms, one at a time {alone:.2f} ms")


if __name__ == "__main__":
    main()
