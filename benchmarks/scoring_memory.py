"""Peak memory of the EAS scoring step: the eager block that materialises the B x H x T x T
attention tensor, against the chunked scorer that runs the block under SDPA and recomputes
the column means of softmax(QK^T / sqrt(d)) one query chunk at a time.

Measured on one encoder block of the given model's shape (weights random: memory does not
depend on their values). CUDA: torch.cuda.max_memory_allocated around the call. CPU: each
measurement runs in a fresh process and reports the growth of its resident-set high-water
mark (ru_maxrss) across the call, so allocator caching cannot hide a peak.

    python benchmarks/scoring_memory.py --output benchmarks/results/scoring_memory_cpu
"""

import argparse
import json
import resource
import subprocess
import sys
from pathlib import Path

import torch

from whisper_eas import EASConfig
from whisper_eas.model import ResidualAttentionBlock

SHAPES = {"tiny": (384, 6), "base": (512, 8), "small": (768, 12), "large-v3": (1280, 20)}  # (width, heads)
VARIANTS = ("sdpa (no scoring)", "exact (eager)", "chunked", "strided", "binarized")


def setup(width: int, heads: int, batch: int, variant: str, device: str):
    """A block of the model's shape, a (batch, 1500, width) input, and the EAS setting to score with."""
    block = ResidualAttentionBlock(width, heads).to(device).eval()
    x = torch.randn(batch, 1500, width, device=device)
    eas = None if variant.startswith("sdpa") else EASConfig(1, 0.5, scorer=variant.split()[0])
    return block, x, eas


def run_block(width: int, heads: int, batch: int, variant: str, device: str) -> None:
    block, x, eas = setup(width, heads, batch, variant, device)
    with torch.inference_mode():
        block(x, backend="sdpa", eas=eas)


def measure(width: int, heads: int, batch: int, variant: str, device: str) -> int:
    """Extra bytes at the peak of one scoring-block call."""
    if device.startswith("cuda"):
        run_block(width, heads, batch, variant, device)  # warm-up: kernels, workspaces
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.memory_allocated()
        run_block(width, heads, batch, variant, device)
        torch.cuda.synchronize()
        return torch.cuda.max_memory_allocated() - before
    command = [sys.executable, __file__, "--child", f"{width},{heads},{batch},{variant}"]
    return int(subprocess.run(command, capture_output=True, text=True, check=True).stdout.split()[-1])


def child(spec: str) -> None:
    width, heads, batch, variant = spec.split(",", 3)
    block, x, eas = setup(int(width), int(heads), int(batch), variant, "cpu")
    with torch.inference_mode():
        block(x[:1, :16], backend="sdpa", eas=eas)  # load kernels before the baseline reading
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        block(x, backend="sdpa", eas=eas)
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print((after - before) * 1024)  # ru_maxrss is in KiB on Linux


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
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
            peak = measure(width, heads, batch, variant, args.device)
            rows.append({"batch": batch, "variant": variant, "peak_extra_bytes": peak, "bhtt_fp32_bytes": attention_tensor})
            print(f"B={batch} {variant:18s} peak +{peak / 2**20:8.1f} MiB  (B*H*T*T fp32 = {attention_tensor / 2**20:.0f} MiB)")
    device_name = torch.cuda.get_device_name() if args.device.startswith("cuda") else "CPU"
    result = {"model_shape": args.model, "width": width, "heads": heads, "tokens": 1500, "device": device_name,
              "torch": torch.__version__, "chunk_size": EASConfig(1, 0.5).chunk_size, "rows": rows}  # fmt: skip
    if args.output:
        output = Path(args.output)
        output.parent.mkdir(parents=True, exist_ok=True)
        output.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n")
        lines = [f"# Peak memory of the EAS scoring block ({args.model} shape, T = 1500, {device_name}, fp32)", "",
                 "| batch | scoring | peak extra MiB | B·H·T·T fp32 MiB |", "|---|---|---|---|"]  # fmt: skip
        lines += [f"| {r['batch']} | {r['variant']} | {r['peak_extra_bytes'] / 2**20:.1f} | {r['bhtt_fp32_bytes'] / 2**20:.0f} |"
                  for r in rows]  # fmt: skip
        output.with_suffix(".md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
