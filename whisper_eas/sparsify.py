"""Early Attentive Sparsification (EAS): drop the audio tokens an early encoder block attends
to least, and run the rest of the encoder and the whole decoder on the shorter sequence.

Paper: Xu et al., "Early Attentive Sparsification Accelerates Neural Speech Transcription",
arXiv 2506.15912, Sec. 3.2, Eq. 1-2 (importance and gather) and Sec. 6.2 (aggregation).

Layer convention, pinned here and in tests/test_sparsify.py: `layer=i` (1-based) drops tokens
*after* `blocks[i-1]`, i.e. before `blocks[i]`, scored by the self-attention of `blocks[i-1]`.
`layer=L` (the last block) shortens only the decoder's cross-attention.

The paper's path: the scoring block's post-softmax attention A[b, h, t', t] (batch, head,
query, key) is averaged over queries and heads, I_t = 1/(H T) sum_{h,t'} A[h,t',t] (Eq. 1),
and the top k tokens are kept in time order.

The keep budget (how many tokens, and which part of the window they may come from):
- `window`, the paper's: k = floor((1 - s) * 1500) of the whole window.
- `speech`: the window's own audio length gives n = ceil(samples / 320) speech tokens; keep
  ceil((1 - speech_sparsity) * n) of them and `padding_tokens` of the 1500 - n padding tokens,
  each part by importance. With speech_sparsity = 0 no speech token is ever dropped, so a
  window full of speech runs unsparsified: safe by construction.
  `padding_choice="first"` keeps the padding tokens right after the speech instead of the
  most-attended ones: with speech_sparsity = 0 that is truncation at the audio's end + P
  tokens, which ranks nothing, so no block is scored and every block runs under SDPA.
- `speech` with `vad=True`: the speech tokens are only those the voice activity detector
  heard (`voiced`, per row), widened by `vad_margin_ms` on each side, with pauses shorter than
  `vad_min_pause_ms` kept; the tokens of longer pauses, noise and music inside the audio are
  dropped like padding. The transcription computes `voiced` once per file (vad.py).

Ablations, not the paper's default (Table 2 and our controls): `aggregate` max / min /
geometric_mean / random, the `chunked` / `strided` / `binarized` scorers, `cross_layer`.

A keep rule of one's own (`rule="package.module:Name"`, CLI `--eas-rule`): a class with a
`ranks_tokens` attribute and a `keep(importance, n_tokens, n_speech)` method (`KeepRule`)
replaces the budget; the layer, scorer and aggregate still say where and how tokens are scored.
"""

import importlib
import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Protocol

import torch
from torch import Tensor, nn

from .attention import attention, attention_with_received

BUDGETS = ("window", "speech")
AGGREGATES = ("mean", "max", "min", "geometric_mean", "random")
SCORERS = ("exact", "chunked", "strided", "binarized")
PADDING_CHOICES = ("attention", "first")
SAMPLES_PER_TOKEN = 320  # 16 kHz: hop 160 samples per mel frame, stride-2 conv -> 20 ms a token

# The settings the search chose (benchmarks/eas_any_audio.sh; README "EAS on any audio"):
# truncation at the audio's end + 300 tokens. Every speech token is kept; the padding right
# after the speech was as accurate as the most-attended padding and needs no scoring pass.
# P = 50 failed, 100-300 held. After block 1 for tiny.en (it held on both validation sets and
# its 4-block encoder gains most from it); after block 2 for base (block 1 failed validation).
RECOMMENDED = {
    "tiny.en": dict(layer=1, budget="speech", padding_tokens=300, padding_choice="first"),
    "base": dict(layer=2, budget="speech", padding_tokens=300, padding_choice="first"),
}


class KeepRule(Protocol):
    """A keep rule of one's own, named by its import path in `EASConfig(rule=...)`.

    `ranks_tokens`: whether `keep` reads the importance; when False no block is scored (every
    block runs under SDPA) and `importance` is None. `keep` gets one row's importance (T,)
    float32 (the scoring block's received attention, aggregated), the window's token count T
    (1500) and how many of them hold audio (the rest is padding), and returns the indices of
    the tokens to keep (k,), increasing, at least one."""

    ranks_tokens: bool

    def keep(self, importance: Tensor | None, n_tokens: int, n_speech: int) -> Tensor: ...


@lru_cache(maxsize=None)
def load_rule(path: str) -> KeepRule:
    """'package.module:Name' -> Name() (a class, or any callable returning a rule)."""
    module_name, _, name = path.partition(":")
    if not module_name or not name:
        raise ValueError(f"EAS rule must be given as 'package.module:Name', got {path!r}")
    try:
        rule = getattr(importlib.import_module(module_name), name)()
    except (ImportError, AttributeError) as error:
        raise ValueError(f"EAS rule {path!r} cannot be loaded: {error}") from None
    if not hasattr(rule, "keep") or not hasattr(rule, "ranks_tokens"):
        raise ValueError(f"EAS rule {path!r} needs a keep() method and a ranks_tokens attribute")
    return rule


def checked_keep(indices: Tensor, n_tokens: int, rule: str) -> Tensor:
    """A rule's answer, refused by name when it is not increasing indices in range."""
    indices = torch.as_tensor(indices, dtype=torch.long).flatten()
    if len(indices) == 0 or indices[0] < 0 or indices[-1] >= n_tokens:
        raise ValueError(f"EAS rule {rule!r} must keep 1 to {n_tokens} tokens in 0..{n_tokens - 1}")
    if len(indices) > 1 and not bool((indices[1:] > indices[:-1]).all()):
        raise ValueError(f"EAS rule {rule!r} must return increasing token indices")
    return indices


@dataclass(frozen=True)
class EASConfig:
    """Where and how hard to sparsify, and how to score tokens.

    layer: 1-based encoder block after which tokens are dropped (1 <= layer <= n_audio_layer).
    budget: `window` (the paper's fixed fraction) or `speech` (see module docstring).
    sparsity: `window` budget: fraction s in [0, 1) of the window's tokens to drop.
    speech_sparsity, padding_tokens, padding_choice: the `speech` budget.
    vad, vad_margin_ms, vad_min_pause_ms: the `speech` budget's speech is what the VAD heard.
    aggregate: how per-head received attention becomes one score (`mean` is Eq. 1).
    scorer: `exact` computes the scoring block's attention `chunk_size` queries at a time and
        reads its output and the scores from the same probabilities; ablations: `chunked`
        runs the block under SDPA and recomputes the scores (same result), `strided` uses every
        `query_stride`-th query, `binarized` uses sign(q), sign(k) (SpeechPrune phase 2).
    cross_layer: aggregate scores of blocks 1..layer instead of block `layer` alone (Sec. 6.2).
    rule: a keep rule of one's own, "package.module:Name" (`KeepRule`), instead of the budget.
    """

    layer: int
    sparsity: float = 0.0
    aggregate: str = "mean"
    scorer: str = "exact"
    cross_layer: bool = False
    budget: str = "window"
    speech_sparsity: float = 0.0
    padding_tokens: int = 300
    padding_choice: str = "attention"
    vad: bool = False
    vad_margin_ms: int = 500
    vad_min_pause_ms: int = 1000
    chunk_size: int = 128
    query_stride: int = 4
    seed: int = 0
    rule: str | None = None

    def __post_init__(self):
        if isinstance(self.layer, bool) or not isinstance(self.layer, int) or self.layer < 1:
            raise ValueError(
                f"EAS layer must be an integer >= 1 (1-based block index), got {self.layer!r}"
            )
        for name in ("sparsity", "speech_sparsity"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError(f"EAS {name} must be a number in [0, 1), got {value!r}")
            if not 0.0 <= value < 1.0:
                raise ValueError(f"EAS {name} must be in [0, 1), got {value!r}")
        if self.budget not in BUDGETS:
            raise ValueError(f"unknown EAS budget {self.budget!r}; choose one of {BUDGETS}")
        if not isinstance(self.padding_tokens, int) or self.padding_tokens < 0:
            raise ValueError(
                f"EAS padding_tokens must be an integer >= 0, got {self.padding_tokens!r}"
            )
        if self.padding_choice not in PADDING_CHOICES:
            raise ValueError(
                f"unknown EAS padding choice {self.padding_choice!r}; "
                f"choose one of {PADDING_CHOICES}"
            )
        if self.aggregate not in AGGREGATES:
            raise ValueError(
                f"unknown EAS aggregate {self.aggregate!r}; choose one of {AGGREGATES}"
            )
        if self.scorer not in SCORERS:
            raise ValueError(f"unknown EAS scorer {self.scorer!r}; choose one of {SCORERS}")
        if self.chunk_size < 1 or self.query_stride < 1:
            raise ValueError("EAS chunk_size and query_stride must be >= 1")
        if self.vad and self.budget != "speech":
            raise ValueError("EAS vad=True needs budget='speech' (it decides what is speech)")
        if self.vad_margin_ms < 0 or self.vad_min_pause_ms < 0:
            raise ValueError("EAS vad_margin_ms and vad_min_pause_ms must be >= 0")
        if self.rule is not None:
            load_rule(self.rule)  # a rule that cannot be loaded is refused here, by name

    @classmethod
    def recommended(cls, model_name: str = "base") -> "EASConfig":
        """The setting the search chose for `model_name` (tiny.en or base; other models get
        base's, which keeps every speech token and so cannot harm a full window)."""
        return cls(**RECOMMENDED.get(model_name, RECOMMENDED["base"]))

    def check_layers(self, n_layers: int) -> None:
        if self.layer > n_layers:
            raise ValueError(
                f"EAS layer {self.layer} is out of range: this encoder has blocks 1..{n_layers}"
            )

    def n_keep(self, n_tokens: int, n_speech: int | None = None) -> tuple[int, int]:
        """(speech tokens kept, padding tokens kept) of a window with n_speech speech tokens.

        The window budget does not split the window: it returns (k, 0) with k = floor((1 - s) T);
        the epsilon absorbs binary rounding ((1 - 0.9) * 1500 is 149.99999999999997)."""
        if self.budget == "window":
            k = math.floor((1.0 - self.sparsity) * n_tokens + 1e-9)
            if k < 1:
                raise ValueError(f"EAS sparsity {self.sparsity} keeps no token of {n_tokens}")
            return k, 0
        n_speech = n_tokens if n_speech is None else min(max(n_speech, 1), n_tokens)
        speech = math.ceil((1.0 - self.speech_sparsity) * n_speech - 1e-9)
        return max(speech, 1), min(self.padding_tokens, n_tokens - n_speech)

    def drops_anything(
        self, n_tokens: int, n_speech: list[int] | None, voiced: list[Tensor] | None = None
    ) -> bool:
        rows = n_speech if n_speech is not None else [None]
        if self.rule is not None:  # its answer is known only once it is asked
            return True
        if self.vad and voiced is not None:
            audio = [n_tokens if n is None else min(n, n_tokens) for n in rows]
            if any(not bool(heard[:n].all()) for heard, n in zip(voiced, audio)):
                return True  # the VAD found a pause, noise or music inside some row's audio
        return any(sum(self.n_keep(n_tokens, n)) < n_tokens for n in rows)

    @property
    def ranks_tokens(self) -> bool:
        """False for truncation (all speech + the first P padding tokens) and random keep."""
        if self.rule is not None:
            return bool(load_rule(self.rule).ranks_tokens)
        truncation = (
            self.budget == "speech" and self.padding_choice == "first" and self.speech_sparsity == 0
        )
        return not truncation and self.aggregate != "random"

    def scoring_blocks(self) -> range:
        """0-based indices of the blocks whose attention is scored."""
        if not self.ranks_tokens:
            return range(0)
        return range(self.layer) if self.cross_layer else range(self.layer - 1, self.layer)


def speech_tokens(n_samples: int) -> int:
    """Audio tokens that hold a window's samples (the rest of the 1500 are zero padding)."""
    return math.ceil(n_samples / SAMPLES_PER_TOKEN)


def received_attention(q: Tensor, k: Tensor, v: Tensor, config: EASConfig) -> tuple[Tensor, Tensor]:
    """The scoring block's self-attention output (B, H, T, D) and R[b, h, t], the attention
    token t receives in head h averaged over queries, (B, H, T) float32."""
    if config.scorer == "exact":  # the paper's path: one pass gives the output and the scores
        return attention_with_received(q, k, v, config.chunk_size)
    # Ablations: the block runs under SDPA, the scores are computed (or approximated) apart.
    out = attention(q, k, v, backend="sdpa")
    if config.scorer == "chunked":
        return out, attention_with_received(q, k, None, config.chunk_size)[1]
    if config.scorer == "strided":
        strided = q[..., :: config.query_stride, :]
        return out, attention_with_received(strided, k, None, config.chunk_size)[1]
    # binarized: sign activations rescaled by their mean magnitude (XNOR-Net style), so the
    # softmax keeps roughly the temperature of the real scores.
    q_bin = q.sign() * q.abs().mean(dim=-1, keepdim=True)
    k_bin = k.sign() * k.abs().mean(dim=-1, keepdim=True)
    return out, attention_with_received(q_bin, k_bin, None, config.chunk_size)[1]


def aggregate_importance(received: Tensor, aggregate: str) -> Tensor:
    """(n_layers, B, H, T) received attention -> (B, T) importance; reduces layers and heads."""
    per_row = received.transpose(0, 1).flatten(1, 2)  # (B, n_layers * H, T)
    if aggregate == "mean":  # Eq. 1
        return per_row.mean(dim=1)
    if aggregate == "max":
        return per_row.amax(dim=1)
    if aggregate == "min":
        return per_row.amin(dim=1)
    if aggregate == "geometric_mean":
        return per_row.clamp_min(torch.finfo(torch.float32).tiny).log().mean(dim=1).exp()
    raise ValueError(f"aggregate {aggregate!r} does not reduce attention scores")


def top_in_order(importance: Tensor, k: int, offset: int = 0) -> Tensor:
    """Indices (+ offset) of the k most important entries of a 1-D tensor, in time order."""
    if k <= 0:
        return importance.new_zeros(0, dtype=torch.long)
    return importance.topk(k, sorted=False).indices.sort().values + offset


class Sparsifier(nn.Module):
    """The EAS stage: top-k tokens by importance, kept in time order, gathered.

    Parameter-free; owned by the encoder and called at one point of its block loop, so the
    `blocks` list (and every weight name) stays as in Whisper.
    """

    def forward(
        self,
        x: Tensor,
        received: list[Tensor],
        config: EASConfig,
        n_speech: list[int] | None,
        voiced: list[Tensor] | None = None,
    ) -> tuple[Tensor, Tensor, Tensor | None]:
        """x (B, T, D) and per-scoring-block (B, H, T) scores -> kept x (B, k, D), kept indices
        (B, k), and a key mask (B, k) when rows keep different counts (None when all keep k:
        rows that keep fewer are padded with their token 0, masked out downstream)."""
        batch, n_tokens, width = x.shape
        if config.aggregate == "random":
            # One seeded draw shared by every row, so a row's keep set does not depend on its batch.
            generator = torch.Generator().manual_seed(config.seed)
            importance = torch.rand(1, n_tokens, generator=generator).to(x.device).expand(batch, -1)
        elif config.ranks_tokens:
            importance = aggregate_importance(torch.stack(received), config.aggregate)
        else:  # truncation ranks nothing: it keeps all n speech tokens (the top n of n)
            importance = torch.zeros(batch, n_tokens, device=x.device)
        rows = []
        for row in range(batch):
            speech = n_speech[row] if n_speech is not None else None
            heard = voiced[row] if voiced is not None and config.vad else None
            rows.append(self.keep(importance[row], config, speech, heard))
        k_max = max(len(r) for r in rows)
        kept = torch.zeros(batch, k_max, dtype=torch.long, device=x.device)
        mask = torch.zeros(batch, k_max, dtype=torch.bool, device=x.device)
        for row, indices in enumerate(rows):
            kept[row, : len(indices)], mask[row, : len(indices)] = indices, True
        gathered = x.gather(1, kept[..., None].expand(batch, k_max, width))
        return gathered, kept, (None if bool(mask.all()) else mask)

    @staticmethod
    def keep(
        importance: Tensor, config: EASConfig, n_speech: int | None, voiced: Tensor | None = None
    ) -> Tensor:
        """One row's kept token indices (k,), increasing. `voiced` (T,) bool: the audio tokens
        the VAD heard as speech (the `vad` speech budget)."""
        n_tokens = importance.shape[0]
        n_speech = n_tokens if n_speech is None else min(max(n_speech, 1), n_tokens)
        if config.rule is not None:
            rule = load_rule(config.rule)
            scores = importance if rule.ranks_tokens else None
            kept = rule.keep(scores, n_tokens, n_speech)
            return checked_keep(kept, n_tokens, config.rule).to(importance.device)
        heard = torch.arange(n_speech, device=importance.device)
        if voiced is not None:  # the speech is what the VAD heard; at least one token
            heard = torch.nonzero(voiced[:n_speech]).flatten().to(importance.device)
            heard = heard if len(heard) else heard.new_zeros(1)
        n_speech_kept, _ = config.n_keep(n_tokens, len(heard))
        if config.budget == "window":
            return top_in_order(importance, n_speech_kept)
        n_padding_kept = min(config.padding_tokens, n_tokens - n_speech)
        speech = heard[top_in_order(importance[heard], n_speech_kept)]
        if config.padding_choice == "first":
            padding = torch.arange(n_speech, n_speech + n_padding_kept, device=importance.device)
        else:
            padding = top_in_order(importance[n_speech:], n_padding_kept, offset=n_speech)
        return torch.cat([speech, padding])

    def extra_repr(self) -> str:
        return "top-k by received self-attention (EASConfig passed per call)"
