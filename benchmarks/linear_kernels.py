"""Each CPU kernel for `x @ W.T + b` on the shapes of a Whisper base step and window: float32
(oneDNN, MKL), bfloat16, int8 weight-only (`_weight_int8pack_mm`, float32 / bf16 activations)
and int8 dynamic (FBGEMM). Median of 7 rounds, the kernels taking turns; relative error of each
against a float64 product. What chose `whisper_eas/quantize.py`'s kernels.

    python benchmarks/linear_kernels.py --threads 1
"""

import argparse
import statistics
import time
import warnings

import torch
import torch.nn.functional as F

from whisper_eas.quantize import fbgemm_pack, quantize_weight

SHAPES = [(1, 512, 512), (1, 512, 2048), (1, 2048, 512), (1, 512, 51864), (8, 512, 512),
          (8, 512, 51864), (1500, 512, 512), (1500, 512, 2048), (1500, 2048, 512)]  # fmt: skip


def kernels(x, w, b) -> dict:
    q, scales = quantize_weight(w)
    xb, wb, bb, sb = x.bfloat16(), w.bfloat16(), b.bfloat16(), scales.bfloat16()
    packed = fbgemm_pack(q, scales, b)
    return {
        "fp32 oneDNN": lambda: torch.ops.mkldnn._linear_pointwise(x, w, b, "none", [], ""),
        "fp32 MKL": lambda: F.linear(x, w, b),
        "bf16": lambda: F.linear(xb, wb, bb),
        "int8 weight-only, fp32 act.": lambda: torch.ops.aten._weight_int8pack_mm(x, q, scales) + b,
        "int8 weight-only, bf16 act.": lambda: torch.ops.aten._weight_int8pack_mm(xb, q, sb) + bb,
        "int8 dynamic (FBGEMM)": lambda: torch.ops.quantized.linear_dynamic(x, packed, True),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    warnings.simplefilter("ignore", UserWarning)
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, {torch.backends.cpu.get_cpu_capability()}, "
          f"{args.threads} thread(s)")  # fmt: skip
    for rows, width_in, width_out in SHAPES:
        x, b = torch.randn(rows, width_in), torch.randn(width_out)
        w = torch.randn(width_out, width_in) * 0.05
        reference = F.linear(x.double(), w.double(), b.double())
        times = {}
        with torch.inference_mode():
            functions = kernels(x, w, b)
            errors = {
                name: ((f().double() - reference).abs().max() / reference.abs().max()).item()
                for name, f in functions.items()
            }
            repeats = min(200, max(1, int(2e6 // (rows * width_in * width_out / 64 + 1))))
            for _ in range(7):
                for name, f in functions.items():
                    began = time.perf_counter()
                    for _ in range(repeats):
                        f()
                    times.setdefault(name, []).append((time.perf_counter() - began) / repeats)
        cells = [f"{n} {1e3 * statistics.median(t):.3f} ms (err {errors[n]:.1e})"
                 for n, t in times.items()]  # fmt: skip
        print(f"{rows} x {width_in} -> {width_out}: " + "; ".join(cells), flush=True)


if __name__ == "__main__":
    main()
