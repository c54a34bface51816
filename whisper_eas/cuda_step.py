"""A decoding step replayed as a CUDA graph.

On a GPU, tiny.en and base decode at the speed of their kernel launches: a step is a few
hundred small kernels, each launched by Python (float16 decoded no faster than float32 on an
H200, README "On a GPU"). A CUDA graph records a step's kernels once and launches them all in
one call. What it records must read nothing back to the host and must find its inputs where it
found them when recorded. The decoder's step does both once the host keeps count of how far
the rows have written (`KVCache.known_end`): the cache, the tokens and the logits stay where
they are, and each row advances its own position on the device.

A step reads the self-attention cache in whole blocks of positions (`KVCache.place`), so one
graph is recorded per block length. The first step that reads a block length runs eagerly, on
the side stream a recording needs warmed; the steps after it replay its graph. The graph
launches the eager step's kernels on the same shapes, so its logits are the eager step's bits.

One transcription at a time per process and GPU: a recording fails when another thread uses
the GPU meanwhile, and the recording stream is one per device. Threads that share a GPU should
set `model.network.decoder.cuda_graphs = False`.
"""

from functools import lru_cache

import torch
from torch import Tensor

from .model import KVCache, TextDecoder


@lru_cache(maxsize=None)
def side_stream(device: torch.device) -> torch.cuda.Stream:
    """The stream steps are recorded on, one per device: cuBLAS keeps a workspace for each
    stream it runs on, and a new stream per cache took, in turn, all 32 of PyTorch's pool."""
    return torch.cuda.Stream(device)


class StepGraphs:
    """`decoder(tokens, cache, backend)` for one-token steps on one cache, replayed from CUDA
    graphs. Made for each cache a decoding loop steps on (a cache's rows are its shapes)."""

    def __init__(self, decoder: TextDecoder, cache: KVCache, backend: str):
        self.decoder, self.cache, self.backend = decoder, cache, backend
        self.tokens = cache.positions.new_zeros(len(cache.positions), 1)  # the graphs' input
        self.end = int(cache.positions.max())  # the host's count from here on: a step adds 1
        self.graphs: dict[int, tuple[torch.cuda.CUDAGraph, Tensor]] = {}
        self.side = side_stream(cache.positions.device)  # recording needs one of its own

    def __call__(self, tokens: Tensor) -> Tensor:
        """tokens (B, 1), each row's next token -> float32 logits (B, 1, n_vocab)."""
        self.end += 1
        self.cache.known_end = self.end
        visible = self.cache.visible_for(self.end)
        try:
            if visible in self.graphs:
                graph, logits = self.graphs[visible]
                self.tokens.copy_(tokens)
                graph.replay()
                return logits.clone()  # the next replay writes over them
            return self.record(tokens, visible)
        finally:
            self.cache.known_end = None  # other callers of this cache read it from the device

    def record(self, tokens: Tensor, visible: int) -> Tensor:
        """This step eagerly, on the side stream (which warms it), then the same step recorded
        there as the graph for `visible` (recording runs nothing: the positions it advances
        stay as they are). Not `torch.cuda.graph`, which empties the allocator's cache first."""
        current = torch.cuda.current_stream()
        self.side.wait_stream(current)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.stream(self.side):
            logits = self.decoder(tokens, self.cache, self.backend)
            graph.capture_begin()
            try:
                recorded = self.decoder(self.tokens, self.cache, self.backend)
            finally:
                graph.capture_end()
        current.wait_stream(self.side)
        logits.record_stream(current)  # made on the side stream, read on the current one
        self.graphs[visible] = (graph, recorded)
        return logits


def decoder_step(decoder: TextDecoder, cache: KVCache, backend: str, project: bool = True):
    """The one-token step a decoding loop calls on `cache`: replayed from CUDA graphs on a CUDA
    device (`TextDecoder.cuda_graphs`), else the decoder itself (`project=False`: the decoder's
    output before the output projection, `TextDecoder.forward`)."""
    if decoder.cuda_graphs and cache.positions.is_cuda and project:
        return StepGraphs(decoder, cache, backend)
    return lambda tokens: decoder(tokens, cache, backend, project=project)
