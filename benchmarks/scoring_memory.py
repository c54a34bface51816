"""Peak memory and time of the EAS scoring block, per scorer, against the same block with no
scoring under SDPA and under the eager backend (which materialises the B x H x T x T
attention tensor, as a scorer reading whole probability matrices would).

Measured on one encoder block of the given model's shape (weights random: memory does not
depend on their values). CUDA: torch.cuda.max_memory_allocated around the call. CPU: each
measurement runs in a fresh process and reports the growth of its resident-set high-water
mark (ru_maxrss) across the call, so allocator caching cannot hide a peak. Seconds: a second
call, timed after the memory reading (CPU: wall clock; CUDA: synchronised).

    python benchmarks/scoring_memory.py --output benchmarks/results/scoring_memory_base_cpu
"""

import argparse
import resource
import subprocess
import sys
import time

import torch

from whisper_eas import EASConfig, Scoring, TopK
from whisper_eas.model import ResidualAttentionBlock
from whisper_eas.research.bench import run_header, title, write_results

SHAPES = {
    "tiny": (384, 6),
    "base": (512, 8),
    "small": (768, 12),
    "large-v3": (1280, 20),
}  # (width, heads)
VARIANTS = {  # name -> (the block's attention backend, EAS scorer or None for no scoring)
    "sdpa, no scoring": ("sdpa", None),
    "eager, no scoring": ("eager", None),
    "exact": ("sdpa", "exact"),
    "chunked": ("sdpa", "chunked"),
    "strided": ("sdpa", "strided"),
    "binarized": ("sdpa", "binarized"),
}


def setup(width: int, heads: int, batch: int, variant: str, device: str):
    """A block of the model's shape, a (batch, 1500, width) input, and a call running the
    variant."""
    block = ResidualAttentionBlock(width, heads).to(device).eval()
    x = torch.randn(batch, 1500, width, device=device)
    backend, scorer = VARIANTS[variant]
    eas = None if scorer is None else EASConfig(1, TopK(0.5, Scoring(scorer=scorer)))

    @torch.inference_mode()
    def call(rows=x):
        block(rows, backend=backend) if eas is None else block.forward_scored(rows, eas)
        if device.startswith("cuda"):
            torch.cuda.synchronize()

    return call, x


def measure(width: int, heads: int, batch: int, variant: str, device: str) -> tuple[int, float]:
    """Extra bytes at the peak of one scoring-block call, and the seconds of the next call."""
    if device.startswith("cuda"):
        call, _ = setup(width, heads, batch, variant, device)
        call()  # warm-up: kernels, workspaces
        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.memory_allocated()
        call()
        peak = torch.cuda.max_memory_allocated() - before
        start = time.perf_counter()
        call()
        return peak, time.perf_counter() - start
    command = [sys.executable, __file__, "--child", f"{width},{heads},{batch},{variant}"]
    peak, seconds = subprocess.run(
        command, capture_output=True, text=True, check=True
    ).stdout.split()[-2:]
    return int(peak), float(seconds)


def child(spec: str) -> None:
    width, heads, batch, variant = spec.split(",", 3)
    call, x = setup(int(width), int(heads), int(batch), variant, "cpu")
    call(x[:1, :16])  # load kernels before the baseline reading
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    call()
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    call()
    print((after - before) * 1024, time.perf_counter() - start)  # ru_maxrss is in KiB on Linux


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default="base", choices=sorted(SHAPES))
    parser.add_argument("--batches", default="1,8")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--output", help="path prefix for .json and .md")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args.child)
    width, heads = SHAPES[args.model]
    rows = []
    for batch in [int(b) for b in args.batches.split(",")]:
        attention_tensor = batch * heads * 1500 * 1500 * 4
        for variant in VARIANTS:
            peak, seconds = measure(width, heads, batch, variant, args.device)
            rows.append(
                {
                    "batch": batch,
                    "variant": variant,
                    "peak_extra_bytes": peak,
                    "seconds": seconds,
                    "bhtt_fp32_bytes": attention_tensor,
                }
            )
            print(
                f"B={batch} {variant:18s} peak +{peak / 2**20:8.1f} MiB  {seconds:.3f} s  "
                f"(B*H*T*T fp32 = {attention_tensor / 2**20:.0f} MiB)"
            )
    result = {
        **run_header(torch.get_num_threads(), args.device),
        "model_shape": args.model,
        "width": width,
        "heads": heads,
        "tokens": 1500,
        "chunk_size": EASConfig(1, TopK(0.5)).chunk_size,
        "rows": rows,
    }
    if args.output:
        lines = [
            title(f"Peak memory and time of the EAS scoring block, {args.model} shape", result),
            "",
            f"T = 1500, fp32, query chunk {result['chunk_size']}.",
            "",
            "| batch | block | peak extra MiB | seconds | B·H·T·T fp32 MiB |",
            "|---|---|---|---|---|",
        ]
        lines += [
            f"| {r['batch']} | {r['variant']} | {r['peak_extra_bytes'] / 2**20:.1f} | "
            f"{r['seconds']:.3f} | {r['bhtt_fp32_bytes'] / 2**20:.0f} |"
            for r in rows
        ]
        write_results(args.output, result, "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
