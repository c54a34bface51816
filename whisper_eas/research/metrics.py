"""WER (Whisper's English normaliser on both sides, then jiwer) and the stage timer that
splits inference time into encoder, decoder and the rest (paper Fig. 4)."""

import time
from contextlib import contextmanager

import torch

NORMALIZER = "whisper_normalizer.english.EnglishTextNormalizer"


def word_error_rate(references: list[str], hypotheses: list[str]) -> float:
    """Corpus WER after Whisper's English normaliser on both sides. Pairs whose normalised
    reference is empty have no words to score and are left out (jiwer cannot score them)."""
    import jiwer
    from whisper_normalizer.english import EnglishTextNormalizer

    normalize = EnglishTextNormalizer()
    pairs = [(normalize(r), normalize(h)) for r, h in zip(references, hypotheses, strict=True)]
    pairs = [(r, h) for r, h in pairs if r.strip()]
    if not pairs:
        raise ValueError("no reference words to score")
    return jiwer.wer([r for r, _ in pairs], [h for _, h in pairs])


class StageTimer:
    """Wall-clock time of a model's encoder and decoder calls, from forward hooks on the two
    modules (the core runs unchanged), and of whole runs; the rest (mel frontend, prompts,
    the fallback bookkeeping) is `other`. On CUDA it synchronises so kernels count where they ran.

        with StageTimer(model.network) as timer:
            with timer.run():
                transcribe(...)
        timer.totals  # {"encoder": s, "decoder": s, "other": s, "total": s}
    """

    STAGES = ("encoder", "decoder")

    def __init__(self, network: torch.nn.Module):
        self.network = network
        self.device = next(network.parameters()).device
        self.totals = {"encoder": 0.0, "decoder": 0.0, "other": 0.0, "total": 0.0}
        self._handles, self._started = [], {}

    def __enter__(self) -> "StageTimer":
        for stage in self.STAGES:
            module = getattr(self.network, stage)
            self._handles.append(module.register_forward_pre_hook(self._starter(stage)))
            self._handles.append(module.register_forward_hook(self._stopper(stage)))
        return self

    def __exit__(self, *exc) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []

    def _starter(self, stage: str):
        def hook(module, args):
            self._sync()
            self._started[stage] = time.perf_counter()

        return hook

    def _stopper(self, stage: str):
        def hook(module, args, output):
            self._sync()
            self.totals[stage] += time.perf_counter() - self._started.pop(stage)

        return hook

    @contextmanager
    def run(self):
        """Time one whole call; what the two stages did not take is `other`."""
        before = {stage: self.totals[stage] for stage in self.STAGES}
        self._sync()
        start = time.perf_counter()
        yield
        self._sync()
        elapsed = time.perf_counter() - start
        staged = sum(self.totals[stage] - before[stage] for stage in self.STAGES)
        self.totals["total"] += elapsed
        self.totals["other"] += elapsed - staged

    def _sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
