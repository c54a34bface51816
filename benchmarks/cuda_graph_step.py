"""What a CUDA graph would save a decoding step: the decoder's step eager against the same step
captured once and replayed, on random weights of tiny.en's and base's shapes (speed does not
depend on the values).

On an H200 tiny.en and base decode no faster in float16 than in float32, and EAS is slower:
a step is a few hundred small kernels, and launching them is the step's time. A graph launches
them all at once. To be captured, a step must not read anything back to the host, so the cache
here reads all 448 positions in every step (the library's `KVCache.place` reads up to the
furthest row's, which it learns from the GPU). Each step's logits from the graph are checked
against the eager step's on the same tokens.

    python benchmarks/cuda_graph_step.py --output benchmarks/results/cuda_graph_step
"""

import argparse
import json
import time

import torch

from whisper_eas.model import KVCache, ModelDims, Whisper
from whisper_eas.research.bench import run_header, title, write_results

SHAPES = {
    "tiny.en": ModelDims(80, 1500, 384, 6, 4, 51864, 448, 384, 6, 4),
    "base": ModelDims(80, 1500, 512, 8, 6, 51865, 448, 512, 8, 6),
}


class WholeCache(KVCache):
    """A cache whose every step reads all n_text_ctx positions: no host sync, so a step can be
    captured in a CUDA graph (the mask still hides each row's positions past its own)."""

    def place(self, n_queries: int) -> torch.Tensor:
        device, n_ctx = self.positions.device, self.self_k.shape[3]
        self.where = self.positions[:, None] + torch.arange(n_queries, device=device)
        self.visible = n_ctx
        keys = torch.arange(n_ctx, device=device)
        self.mask = (keys[None, None, :] <= self.where[:, :, None])[:, None]
        batch, n_head = self.self_k.shape[1:3]
        heads = torch.arange(batch * n_head, device=device).view(batch, n_head, 1) * n_ctx
        self.slots = (heads + self.where[:, None, :]).flatten()
        return self.where


def fresh_cache(decoder, features: torch.Tensor, whole: bool) -> KVCache:
    cache = decoder.new_cache(features)
    if whole:
        cache = WholeCache(cache.cross_kv, cache.kept_counts, cache.self_k.shape[3])
    prompt = torch.full((len(features), 4), 50257, device=features.device)
    decoder(prompt, cache, last_only=True)
    return cache


def median_ms(times: list[float]) -> float:
    return 1e3 * sorted(times)[len(times) // 2]


def measure(name: str, dtype: torch.dtype, rows: int, steps: int = 100) -> dict:
    dims = SHAPES[name]
    torch.manual_seed(0)
    decoder = Whisper(dims).decoder.to("cuda", dtype).eval()
    features = torch.randn(rows, dims.n_audio_ctx, dims.n_text_state, device="cuda", dtype=dtype)
    tokens = torch.randint(0, 50000, (steps, rows, 1), device="cuda")
    result = {"model": name, "dtype": str(dtype).split(".")[-1], "rows": rows}
    with torch.inference_mode():
        for label, whole in (("eager_ms", False), ("eager_whole_cache_ms", True)):
            cache, times, logits = fresh_cache(decoder, features, whole), [], []
            for step in range(steps):
                torch.cuda.synchronize()
                start = time.perf_counter()
                logits.append(decoder(tokens[step], cache, last_only=True))
                torch.cuda.synchronize()
                times.append(time.perf_counter() - start)
            result[label] = median_ms(times[5:])
        eager_logits = torch.stack(logits)  # the whole-cache eager step's, the graph's reference

        cache, static = fresh_cache(decoder, features, True), tokens[0].clone()
        start_positions = cache.positions.clone()
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):  # warm-up outside the graph, as capture requires
            for _ in range(3):
                decoder(static, cache, last_only=True)
        torch.cuda.current_stream().wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            out = decoder(static, cache, last_only=True)
        cache.positions.copy_(start_positions)  # the warm-up steps advanced them
        times, logits = [], []
        for step in range(steps):
            torch.cuda.synchronize()
            start = time.perf_counter()
            static.copy_(tokens[step])
            graph.replay()
            logits.append(out.clone())
            torch.cuda.synchronize()
            times.append(time.perf_counter() - start)
        result["graph_ms"] = median_ms(times[5:])
        graph_logits = torch.stack(logits)
    result["graph_equals_eager"] = bool(torch.equal(graph_logits, eager_logits))
    result["max_abs_diff"] = float((graph_logits - eager_logits).abs().max())
    result["speed_up"] = result["eager_ms"] / result["graph_ms"]
    print(json.dumps(result), flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default="tiny.en,base")
    parser.add_argument("--rows", default="1,8")
    parser.add_argument("--output", default="benchmarks/results/cuda_graph_step")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("needs a CUDA device")
    unknown = set(args.models.split(",")) - set(SHAPES)
    if unknown:
        raise SystemExit(f"unknown model {', '.join(sorted(unknown))}; choose from {list(SHAPES)}")
    rows = [
        measure(name, dtype, n)
        for name in args.models.split(",")
        for dtype in (torch.float32, torch.float16)
        for n in map(int, args.rows.split(","))
    ]
    header = run_header(1, "cuda")
    lines = [
        title("A decoding step eager against a CUDA graph", header),
        "",
        "Random weights of each model's shapes; ms per step, the median of 95 steps (after 5).",
        "`eager`: the library's step; `eager, whole cache`: every step reads all 448 positions",
        "(what a graph needs); `graph`: that step captured once and replayed.",
        "",
        "| model | dtype | rows | eager | eager, whole cache | graph | eager / graph "
        "| same logits |",
        "|---|---|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {r['model']} | {r['dtype']} | {r['rows']} | {r['eager_ms']:.2f} | "
        f"{r['eager_whole_cache_ms']:.2f} | {r['graph_ms']:.2f} | {r['speed_up']:.1f}× | "
        f"{'yes' if r['graph_equals_eager'] else 'no, ' + format(r['max_abs_diff'], '.1e')} |"
        for r in rows
    ]
    write_results(args.output, {**header, "rows": rows}, "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
