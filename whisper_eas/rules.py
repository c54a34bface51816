"""Keep rules: which audio tokens survive the EAS stage.

A rule sees one window (one row of the batch) as a `Tokens`: the importance of each token
(the attention it receives in the scoring block, aggregated as the rule's `Scoring` says), the
hidden states there, how many tokens hold audio (the rest is the zero padding up to 30 s), and
the tokens a voice activity detector heard as speech when the rule asked for them. It returns
the indices of the tokens to keep, increasing (time order).

The built-in rules, one short class each:
- `TopK`: the paper's, the top floor((1 - s) T) of the window by importance (Eq. 1-2).
- `SpeechPrune`: `TopK` scored on binarized queries and keys (SpeechPrune's phase 2).
- `RandomKeep`: another rule's count, drawn at random: the control that ranks nothing.
- `SpeechBudget`: ceil((1 - s) n) of the n audio tokens and P of the padding tokens, each by
  importance (or the first P after the audio): with s = 0 a window full of speech keeps all.
- `Truncate`: all audio tokens and the first P padding tokens; ranks nothing, so no block is
  scored and every block runs under SDPA. The recommended setting (sparsify.RECOMMENDED).
- `VADBudget`: `SpeechBudget` where the speech is what the VAD heard (widened by a margin,
  short pauses kept): tokens of long pauses, noise and music inside the audio are dropped too.

A rule of one's own is any object with a `keep(tokens)` method (`KeepRule`); its `scoring`
attribute (a `Scoring`, or None when it ranks nothing) says whether and how tokens are scored,
`vad` (a `VadOptions`) asks for the VAD's speech tokens, and `keeps_all(n_tokens, n_speech,
voiced)` may say in advance that it keeps every token (the encoder then skips the stage, and a
full window stays bit-identical to EAS off). Name it by import path ("package.module:Name",
CLI `--eas-rule`) or pass the object in `EASConfig(layer, rule)`.
"""

import importlib
import math
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Protocol

import torch
from torch import Tensor

from .vad import VadOptions

AGGREGATES = ("mean", "max", "min", "geometric_mean")
SCORERS = ("exact", "chunked", "strided", "binarized")
PADDING_CHOICES = ("attention", "first")


@dataclass(frozen=True)
class Scoring:
    """How the scoring block's attention becomes one importance per token.

    scorer: `exact` computes the block's attention `chunk_size` queries at a time and reads its
        output and the scores from the same probabilities (the paper's path); ablations:
        `chunked` runs the block under SDPA and recomputes the scores (same result), `strided`
        uses every `query_stride`-th query, `binarized` uses sign(q), sign(k) (SpeechPrune).
    aggregate: how heads' (and layers') received attention combine; `mean` is Eq. 1.
    cross_layer: score blocks 1..layer instead of the dropping block alone (Sec. 6.2).
    """

    scorer: str = "exact"
    aggregate: str = "mean"
    cross_layer: bool = False
    chunk_size: int = 128
    query_stride: int = 4

    def __post_init__(self):
        if self.scorer not in SCORERS:
            raise ValueError(f"unknown EAS scorer {self.scorer!r}; choose one of {SCORERS}")
        if self.aggregate not in AGGREGATES:
            raise ValueError(
                f"unknown EAS aggregate {self.aggregate!r}; choose one of {AGGREGATES}"
            )
        if self.chunk_size < 1 or self.query_stride < 1:
            raise ValueError("EAS chunk_size and query_stride must be >= 1")


@dataclass(frozen=True)
class Tokens:
    """What a rule sees of one row: importance (T,) float32 or None when the rule ranks
    nothing; hidden (T, D) after the dropping block; n_speech, the tokens that hold audio;
    voiced (T,) bool, the tokens the VAD heard, or None unless the rule asked (`vad`)."""

    importance: Tensor | None
    hidden: Tensor
    n_speech: int
    voiced: Tensor | None = None

    @property
    def n_tokens(self) -> int:
        return self.hidden.shape[0]


class KeepRule(Protocol):
    scoring: Scoring | None  # None: no block is scored, `importance` is None

    def keep(self, tokens: Tokens) -> Tensor: ...


def top_in_order(importance: Tensor, k: int, offset: int = 0) -> Tensor:
    """Indices (+ offset) of the k most important entries of a 1-D tensor, in time order."""
    if k <= 0:
        return importance.new_zeros(0, dtype=torch.long)
    return importance.topk(k, sorted=False).indices.sort().values + offset


def _check_fraction(name: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
        raise ValueError(f"EAS {name} must be a number in [0, 1), got {value!r}")


def _check_count(name: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"EAS {name} must be an integer >= 0, got {value!r}")


def window_keep_count(sparsity: float, n_tokens: int) -> int:
    """floor((1 - s) T); the epsilon absorbs binary rounding ((1 - 0.9) * 1500 is 149.99...)."""
    k = math.floor((1.0 - sparsity) * n_tokens + 1e-9)
    if k < 1:
        raise ValueError(f"EAS sparsity {sparsity} keeps no token of {n_tokens}")
    return k


@dataclass(frozen=True)
class TopK:
    """The paper's rule: the floor((1 - s) T) most-attended tokens of the whole window."""

    sparsity: float
    scoring: Scoring = Scoring()

    def __post_init__(self):
        _check_fraction("sparsity", self.sparsity)

    def keeps_all(self, n_tokens: int, n_speech: int, voiced: Tensor | None) -> bool:
        return window_keep_count(self.sparsity, n_tokens) >= n_tokens

    def keep(self, tokens: Tokens) -> Tensor:
        return top_in_order(tokens.importance, window_keep_count(self.sparsity, tokens.n_tokens))


@dataclass(frozen=True)
class SpeechPrune(TopK):
    """`TopK` scored on sign(q), sign(k) rescaled by their mean magnitude (SpeechPrune's
    binarized attention, XNOR-Net style), instead of the real attention."""

    scoring: Scoring = Scoring(scorer="binarized")


@dataclass(frozen=True)
class Truncate:
    """Every audio token and the first P padding tokens after them: the window cut P tokens
    after the audio's end. Ranks nothing.

    `min_dropped`: cut only a window that loses at least this many tokens; one that would lose
    fewer keeps them all. A cut row of a batch has its own token count, and rows of different
    counts attend apart in every decoding step (`model.KVCache.cross_groups`): a long
    recording's parts, windows of 14-24 s each cut by under 500 tokens, made `--eas` 0.89x
    EAS off's speed (tiny.en, 12 long recordings; base 0.93x), where with a minimum cut of 500
    tokens (10 s) it ran at 0.98x (base 0.99x), and short clips are cut as before
    (benchmarks/eas_min_dropped.py)."""

    padding_tokens: int = 300
    min_dropped: int = 0
    scoring = None

    def __post_init__(self):
        _check_count("padding_tokens", self.padding_tokens)
        _check_count("min_dropped", self.min_dropped)

    def keeps_all(self, n_tokens: int, n_speech: int, voiced: Tensor | None) -> bool:
        dropped = n_tokens - n_speech - self.padding_tokens
        return dropped <= 0 or dropped < self.min_dropped

    def keep(self, tokens: Tokens) -> Tensor:
        keeps_all = self.keeps_all(tokens.n_tokens, tokens.n_speech, None)
        end = tokens.n_tokens if keeps_all else tokens.n_speech + self.padding_tokens
        return torch.arange(end, device=tokens.hidden.device)


@dataclass(frozen=True)
class SpeechBudget:
    """ceil((1 - s) n) of the n speech tokens by importance, and P of the padding tokens: the
    most-attended (`padding="attention"`) or the first after the audio (`"first"`). With s = 0
    no speech token is dropped, so a window full of speech runs unsparsified."""

    speech_sparsity: float = 0.0
    padding_tokens: int = 300
    padding: str = "attention"
    ranking: Scoring = Scoring()

    def __post_init__(self):
        _check_fraction("speech_sparsity", self.speech_sparsity)
        _check_count("padding_tokens", self.padding_tokens)
        if self.padding not in PADDING_CHOICES:
            raise ValueError(
                f"unknown EAS padding choice {self.padding!r}; choose one of {PADDING_CHOICES}"
            )

    @property
    def scoring(self) -> Scoring | None:
        ranks = self.speech_sparsity > 0 or self.padding == "attention"
        return self.ranking if ranks else None

    def speech_kept(self, n: int) -> int:
        return max(math.ceil((1.0 - self.speech_sparsity) * n - 1e-9), 1)

    def keeps_all(self, n_tokens: int, n_speech: int, voiced: Tensor | None) -> bool:
        padding = min(self.padding_tokens, n_tokens - n_speech)
        return self.speech_kept(n_speech) + padding >= n_tokens

    def speech(self, tokens: Tokens) -> Tensor:
        """The speech tokens' indices: every token that holds audio."""
        return torch.arange(tokens.n_speech, device=tokens.hidden.device)

    def keep(self, tokens: Tokens) -> Tensor:
        n_speech, device = tokens.n_speech, tokens.hidden.device
        speech = self.speech(tokens)
        k = self.speech_kept(len(speech))
        if k < len(speech):
            speech = speech[top_in_order(tokens.importance[speech], k)]
        n_padding = min(self.padding_tokens, tokens.n_tokens - n_speech)
        if self.padding == "first":
            padding = torch.arange(n_speech, n_speech + n_padding, device=device)
        else:
            padding = top_in_order(tokens.importance[n_speech:], n_padding, offset=n_speech)
        return torch.cat([speech, padding])


@dataclass(frozen=True)
class VADBudget(SpeechBudget):
    """`SpeechBudget` where the speech is what Silero VAD heard, widened by `margin_ms` on each
    side, with pauses shorter than `min_pause_ms` kept: the tokens of longer pauses, noise and
    music inside the audio are dropped like padding. The transcription runs the VAD once per
    file when a rule has a `vad` attribute."""

    padding: str = "first"
    margin_ms: int = 500
    min_pause_ms: int = 1000

    def __post_init__(self):
        super().__post_init__()
        _check_count("margin_ms", self.margin_ms)
        _check_count("min_pause_ms", self.min_pause_ms)

    @property
    def vad(self) -> VadOptions:
        """Every region however short, widened by the margin; shorter pauses stay inside."""
        return VadOptions(
            min_speech_ms=0, min_silence_ms=self.min_pause_ms, speech_pad_ms=self.margin_ms
        )

    def keeps_all(self, n_tokens: int, n_speech: int, voiced: Tensor | None) -> bool:
        heard_everything = voiced is None or bool(voiced[:n_speech].all())
        return heard_everything and super().keeps_all(n_tokens, n_speech, voiced)

    def speech(self, tokens: Tokens) -> Tensor:
        """The tokens the VAD heard; at least one."""
        heard = torch.nonzero(tokens.voiced[: tokens.n_speech]).flatten()
        return heard.to(tokens.hidden.device) if len(heard) else super().speech(tokens)[:1]


@dataclass(frozen=True)
class RandomKeep:
    """The control at equal kept counts: `budget` decides how many tokens (and from which part
    of the window), a random draw from `seed` decides which, the same for every row and batch.
    Ranks nothing."""

    budget: "TopK | SpeechBudget"
    seed: int = 0
    scoring = None

    def keeps_all(self, n_tokens: int, n_speech: int, voiced: Tensor | None) -> bool:
        return self.budget.keeps_all(n_tokens, n_speech, voiced)

    def keep(self, tokens: Tokens) -> Tensor:
        generator = torch.Generator().manual_seed(self.seed)
        draw = torch.rand(tokens.n_tokens, generator=generator).to(tokens.hidden.device)
        return self.budget.keep(replace(tokens, importance=draw))


@lru_cache(maxsize=None)
def load_rule(path: str) -> KeepRule:
    """'package.module:Name' -> Name() (a class, or any callable returning a rule)."""
    module_name, _, name = path.partition(":")
    if not module_name or not name:
        raise ValueError(f"EAS rule must be given as 'package.module:Name', got {path!r}")
    try:
        rule = getattr(importlib.import_module(module_name), name)()
    except (ImportError, AttributeError, TypeError) as error:
        raise ValueError(f"EAS rule {path!r} cannot be loaded: {error}") from None
    check_rule(rule, path)
    return rule


def check_rule(rule, name: str) -> None:
    if not callable(getattr(rule, "keep", None)):
        raise ValueError(f"EAS rule {name} needs a keep(tokens) method")
    scoring = getattr(rule, "scoring", None)
    if scoring is not None and not isinstance(scoring, Scoring):
        raise ValueError(f"EAS rule {name}: scoring must be a Scoring or None, got {scoring!r}")


def checked_keep(indices: Tensor, n_tokens: int, rule: str) -> Tensor:
    """A rule's answer, refused by name when it is not increasing indices in range."""
    indices = torch.as_tensor(indices, dtype=torch.long).flatten()
    if len(indices) == 0 or indices[0] < 0 or indices[-1] >= n_tokens:
        raise ValueError(f"EAS rule {rule} must keep 1 to {n_tokens} tokens in 0..{n_tokens - 1}")
    if len(indices) > 1 and not bool((indices[1:] > indices[:-1]).all()):
        raise ValueError(f"EAS rule {rule} must return increasing token indices")
    return indices
