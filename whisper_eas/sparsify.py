"""Early Attentive Sparsification (EAS): drop the audio tokens an early encoder block attends
to least, and run the rest of the encoder and the whole decoder on the shorter sequence.

Paper: Xu et al., "Early Attentive Sparsification Accelerates Neural Speech Transcription",
arXiv 2506.15912, Sec. 3.2, Eq. 1-2 (importance and gather) and Sec. 6.2 (aggregation).

Layer convention, pinned here and in tests/test_sparsify.py: `layer=i` (1-based) drops tokens
*after* `blocks[i-1]`, i.e. before `blocks[i]`, scored by the self-attention of `blocks[i-1]`.
`layer=L` (the last block) shortens only the decoder's cross-attention.

Axes: the scoring block's post-softmax attention is A[b, h, t', t] (batch, head, query, key).
Every scorer first averages over queries t': R[b, h, t] is the attention token t *receives*
in head h. The aggregate then reduces the head axis, and in cross-layer mode the stacked
layer axis too (scores from blocks 1..i): `mean` gives Eq. 1, I_t = 1/(H T) sum_{h,t'} A[h,t',t];
`max`/`min` take the extreme head (and layer); `geometric_mean` is exp(mean(log R)); `random`
ignores attention and keeps a seeded random set (the paper's control).
"""

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from .attention import attention

AGGREGATES = ("mean", "max", "min", "geometric_mean", "random")
SCORERS = ("exact", "chunked", "strided", "binarized")


@dataclass(frozen=True)
class EASConfig:
    """Where and how hard to sparsify, and how to score tokens.

    layer: 1-based encoder block after which tokens are dropped (1 <= layer <= n_audio_layer).
    sparsity: fraction s in [0, 1) of tokens to drop; k = floor((1 - s) * T) are kept.
    aggregate: how per-head received attention becomes one score (see module docstring).
    scorer: `exact` computes the scoring block's attention eagerly, `chunk_size` queries at
        a time, and reads its output and the scores from the same probabilities (memory
        B*H*chunk*T); `chunked` runs the block under its backend (SDPA) and recomputes the
        same scores in query chunks (exact, QK^T computed twice); `strided` uses every
        `query_stride`-th query (approximate); `binarized` uses sign(q), sign(k)
        (SpeechPrune phase 2, approximate).
    cross_layer: aggregate scores of blocks 1..layer instead of block `layer` alone (Sec. 6.2).
    """

    layer: int
    sparsity: float
    aggregate: str = "mean"
    scorer: str = "exact"
    cross_layer: bool = False
    chunk_size: int = 128
    query_stride: int = 4
    seed: int = 0

    def __post_init__(self):
        if isinstance(self.layer, bool) or not isinstance(self.layer, int) or self.layer < 1:
            raise ValueError(f"EAS layer must be an integer >= 1 (1-based block index), got {self.layer!r}")
        if not isinstance(self.sparsity, (int, float)) or not 0.0 <= self.sparsity < 1.0:
            raise ValueError(f"EAS sparsity must be in [0, 1), got {self.sparsity!r}")
        if self.aggregate not in AGGREGATES:
            raise ValueError(f"unknown EAS aggregate {self.aggregate!r}; choose one of {AGGREGATES}")
        if self.scorer not in SCORERS:
            raise ValueError(f"unknown EAS scorer {self.scorer!r}; choose one of {SCORERS}")
        if self.chunk_size < 1 or self.query_stride < 1:
            raise ValueError("EAS chunk_size and query_stride must be >= 1")

    def check_layers(self, n_layers: int) -> None:
        if self.layer > n_layers:
            raise ValueError(f"EAS layer {self.layer} is out of range: this encoder has blocks 1..{n_layers}")

    def n_keep(self, n_tokens: int) -> int:
        """k = floor((1 - s) * T). The epsilon absorbs binary rounding: (1 - 0.9) * 1500
        is 149.99999999999997 in floating point, and the intended k is 150."""
        k = math.floor((1.0 - self.sparsity) * n_tokens + 1e-9)
        if k < 1:
            raise ValueError(f"EAS sparsity {self.sparsity} keeps no token of {n_tokens} (k = {k} < 1)")
        return k

    def scoring_blocks(self) -> range:
        """0-based indices of the blocks whose attention is scored."""
        if self.aggregate == "random":
            return range(0)
        return range(self.layer) if self.cross_layer else range(self.layer - 1, self.layer)


def attend_in_chunks(q: Tensor, k: Tensor, v: Tensor | None, chunk_size: int) -> tuple[Tensor | None, Tensor]:
    """softmax(q k^T / sqrt(D)) one chunk of queries at a time, so only (B, H, chunk, Tk) is held.

    q (B, H, Tq, D), k and v (B, H, Tk, D) -> the attention output (B, H, Tq, D), or None when
    `v` is None, and R (B, H, Tk) float32: the probabilities' mean over queries. Output and R
    come from the same probabilities, computed once (softmax in float32, as the eager backend).
    Why chunks: at T = 1500 the whole (B, H, T, T) matrix is 72 MB per batch row for base's
    8 heads, and on CPU writing it to fresh memory costs far more than the arithmetic
    (`benchmarks/scoring_memory.py` times the eager, whole-matrix block against this)."""
    scale = 1.0 / math.sqrt(q.shape[-1])
    key_t = k.transpose(-1, -2)
    received = torch.zeros(k.shape[:-1], dtype=torch.float32, device=k.device)
    outputs = []
    for q_chunk in q.split(chunk_size, dim=-2):
        probs = (q_chunk @ key_t).float().mul_(scale).softmax(dim=-1)  # (B, H, chunk, Tk)
        received += probs.sum(dim=-2)
        if v is not None:
            outputs.append(probs.to(v.dtype) @ v)
    return (torch.cat(outputs, dim=-2) if v is not None else None), received / q.shape[-2]


def scored_attention(q: Tensor, k: Tensor, v: Tensor, config: EASConfig, backend: str) -> tuple[Tensor, Tensor]:
    """The scoring block's self-attention: its output (B, H, T, D) and R[b, h, t], the attention
    token t receives in head h averaged over queries, (B, H, T) float32, by the configured scorer."""
    if config.scorer == "exact":
        return attend_in_chunks(q, k, v, config.chunk_size)
    out = attention(q, k, v, causal=False, backend=backend)
    if config.scorer == "chunked":
        return out, attend_in_chunks(q, k, None, config.chunk_size)[1]
    if config.scorer == "strided":
        return out, attend_in_chunks(q[..., :: config.query_stride, :], k, None, config.chunk_size)[1]
    # binarized: sign activations rescaled by their mean magnitude (XNOR-Net style), so the
    # softmax keeps roughly the temperature of the real scores.
    q_bin = q.sign() * q.abs().mean(dim=-1, keepdim=True)
    k_bin = k.sign() * k.abs().mean(dim=-1, keepdim=True)
    return out, attend_in_chunks(q_bin, k_bin, None, config.chunk_size)[1]


def aggregate_importance(received: Tensor, aggregate: str) -> Tensor:
    """(n_layers, B, H, T) received attention -> (B, T) importance; reduces layers and heads."""
    per_row = received.transpose(0, 1).flatten(1, 2)  # (B, n_layers * H, T)
    if aggregate == "mean":
        return per_row.mean(dim=1)
    if aggregate == "max":
        return per_row.amax(dim=1)
    if aggregate == "min":
        return per_row.amin(dim=1)
    if aggregate == "geometric_mean":
        return per_row.clamp_min(torch.finfo(torch.float32).tiny).log().mean(dim=1).exp()
    raise ValueError(f"aggregate {aggregate!r} does not reduce attention scores")


class Sparsifier(nn.Module):
    """The EAS stage: top-k tokens by importance, kept in time order, gathered.

    Parameter-free; owned by the encoder and called at one point of its block loop, so the
    `blocks` list (and every weight name) stays as in Whisper.
    """

    def forward(self, x: Tensor, received: list[Tensor], config: EASConfig) -> tuple[Tensor, Tensor]:
        """x (B, T, D) and per-scoring-block (B, H, T) scores -> kept x (B, k, D) and kept indices (B, k)."""
        batch, n_tokens, width = x.shape
        n_keep = config.n_keep(n_tokens)
        if n_keep == n_tokens:  # nothing to drop, nothing to rank
            return x, torch.arange(n_tokens, device=x.device).expand(batch, n_tokens)
        if config.aggregate == "random":
            # One seeded draw shared by every row, so a row's keep set does not depend on its batch.
            generator = torch.Generator().manual_seed(config.seed)
            importance = torch.rand(1, n_tokens, generator=generator).to(x.device).expand(batch, -1)
        else:
            importance = aggregate_importance(torch.stack(received), config.aggregate)
        kept = importance.topk(n_keep, dim=-1, sorted=False).indices.sort(dim=-1).values  # (B, k)
        return x.gather(1, kept[..., None].expand(batch, n_keep, width)), kept

    def extra_repr(self) -> str:
        return "top-k by received self-attention (EASConfig passed per call)"
