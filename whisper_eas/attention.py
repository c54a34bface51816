"""Scaled dot-product attention, written once, with a per-call backend, and the
probability-returning variant that the EAS scoring block needs.

`"eager"` is the reference: it materialises the (B, H, Tq, Tk) probabilities and computes the
softmax in float32 whatever the model dtype. `"sdpa"` calls PyTorch's fused kernels (flash /
memory-efficient on CUDA, a fused CPU kernel otherwise) and never builds the full matrix.
`attention_with_received` computes the probabilities a chunk of queries at a time and returns,
beside the output, the attention each key *receives* (the EAS importance, Eq. 1).

Masks are boolean, True where attention is allowed. `key_mask` (B, Tk) marks the valid keys of
each row: batches whose rows keep different numbers of audio tokens (EAS) or carry prompts of
different lengths (long-form) pad the shorter rows, and the padding must receive nothing.
"""

import math

import torch
import torch.nn.functional as F
from torch import Tensor

BACKENDS = ("eager", "sdpa")


def check_backend(backend: str) -> str:
    if backend not in BACKENDS:
        raise ValueError(f"unknown attention backend {backend!r}; choose one of {BACKENDS}")
    return backend


def causal_mask(n_queries: int, n_keys: int, device: torch.device) -> Tensor:
    """Boolean (Tq, Tk) mask. Queries are the *last* n_queries positions of the key sequence
    (the decoder appends to its KV cache)."""
    offset = n_keys - n_queries
    query_pos = torch.arange(n_queries, device=device)[:, None] + offset
    return torch.arange(n_keys, device=device)[None, :] <= query_pos


def attention_mask(
    n_queries: int, n_keys: int, *, causal: bool, key_mask: Tensor | None, device: torch.device
) -> Tensor | None:
    """The (B or 1, 1, Tq, Tk) boolean mask for `attention`, or None when nothing is masked."""
    mask = causal_mask(n_queries, n_keys, device) if causal and n_queries > 1 else None
    if key_mask is None:
        return None if mask is None else mask[None, None]
    keys = key_mask[:, None, None, :]  # (B, 1, 1, Tk)
    if mask is None:
        return keys
    # A padded query (a left-padded prompt position) may see no valid key; letting every query
    # see itself keeps its softmax finite, and nothing valid ever attends to it.
    offset = n_keys - n_queries
    query_pos = torch.arange(n_queries, device=device)[:, None] + offset
    diagonal = torch.arange(n_keys, device=device)[None, :] == query_pos
    return (keys & mask) | diagonal


def attention(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    *,
    causal: bool = False,
    key_mask: Tensor | None = None,
    backend: str = "sdpa",
) -> Tensor:
    """q (B, H, Tq, D), k and v (B, H, Tk, D) -> output (B, H, Tq, D)."""
    mask = attention_mask(
        q.shape[-2], k.shape[-2], causal=causal, key_mask=key_mask, device=q.device
    )
    if backend == "sdpa":
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    check_backend(backend)
    scores = (q @ k.transpose(-1, -2)).float() / math.sqrt(q.shape[-1])  # (B, H, Tq, Tk)
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    return scores.softmax(dim=-1).to(v.dtype) @ v


def attention_with_received(
    q: Tensor, k: Tensor, v: Tensor | None, chunk_size: int = 128
) -> tuple[Tensor | None, Tensor]:
    """softmax(q k^T / sqrt(D)) one chunk of queries at a time, so only (B, H, chunk, Tk) is held.

    q (B, H, Tq, D), k and v (B, H, Tk, D) -> the attention output (B, H, Tq, D), or None when
    `v` is None, and R (B, H, Tk) float32: the probabilities' mean over queries, the attention
    each key receives. Output and R come from the same probabilities, computed once (softmax in
    float32, as the eager backend). Why chunks: at T = 1500 the whole matrix is 72 MB per batch
    row for base's 8 heads, and on CPU writing it to fresh memory costs more than the arithmetic
    (`benchmarks/scoring_memory.py` times the whole-matrix block against this).
    Encoder self-attention only: no mask (the scoring block always sees all 1500 tokens).
    """
    scale = 1.0 / math.sqrt(q.shape[-1])
    key_t = k.transpose(-1, -2)
    received = torch.zeros(k.shape[:-1], dtype=torch.float32, device=k.device)
    outputs = []
    for q_chunk in q.split(chunk_size, dim=-2):
        probs = (q_chunk @ key_t).float().mul_(scale).softmax(dim=-1)  # (B, H, chunk, Tk)
        received += probs.sum(dim=-2)
        if v is not None:
            outputs.append(probs.to(v.dtype) @ v)
    output = torch.cat(outputs, dim=-2) if v is not None else None
    return output, received / q.shape[-2]
