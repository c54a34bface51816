"""GPU memory that CUDA-graph decoding steps hold after many caches (`whisper_eas/cuda_step`):
the side stream they are recorded on made anew for each cache, against one per device.

cuBLAS keeps a workspace for each stream it runs on, and PyTorch hands out its 32 pooled
streams in turn, so a stream per cache ends up holding 32 workspaces. Random weights of
tiny.en's shapes, 8 rows, 40 caches of 70 steps (two blocks of positions each). Run each
variant in its own process:

    python benchmarks/cuda_graph_memory.py "one per cache"
    python benchmarks/cuda_graph_memory.py "one per device"
"""

import sys

import torch

from whisper_eas import cuda_step
from whisper_eas.model import ModelDims, Whisper

VARIANTS = {
    "one per cache": lambda device: torch.cuda.Stream(device),
    "one per device": cuda_step.side_stream,
}


def main() -> None:
    if not torch.cuda.is_available():
        raise SystemExit("needs a CUDA device")
    if len(sys.argv) != 2 or sys.argv[1] not in VARIANTS:
        raise SystemExit(f"usage: cuda_graph_memory.py VARIANT, one of {list(VARIANTS)}")
    name = sys.argv[1]
    cuda_step.side_stream = VARIANTS[name]
    dims = ModelDims(80, 1500, 384, 6, 4, 51864, 448, 384, 6, 4)
    decoder = Whisper(dims).decoder.cuda().eval()
    features = torch.randn(8, 1500, dims.n_text_state, device="cuda")
    prompt = torch.full((8, 4), 50257, device="cuda")
    tokens = torch.full((8, 1), 50256, device="cuda")
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    before = torch.cuda.memory_allocated()
    with torch.inference_mode():
        for _ in range(40):
            cache = decoder.new_cache(features)
            decoder(prompt, cache)
            step = cuda_step.StepGraphs(decoder, cache, "eager")
            logits = [step(tokens) for _ in range(70)]  # two blocks of 64 positions
            del step, cache, logits
    torch.cuda.synchronize()
    held = (torch.cuda.memory_allocated() - before) / 2**20
    peak = (torch.cuda.max_memory_allocated() - before) / 2**20
    print(f"{name}: held after 40 caches {held:.0f} MiB, peak {peak:.0f} MiB")


if __name__ == "__main__":
    main()
