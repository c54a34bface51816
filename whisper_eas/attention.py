"""Scaled dot-product attention, written once, with a per-call backend.

`"eager"` is the reference: it materialises the (B, H, Tq, Tk) probabilities and computes the
softmax in float32 whatever the model dtype. `"sdpa"` calls PyTorch's fused kernels (flash /
memory-efficient on CUDA, a fused CPU kernel otherwise) and never builds the full matrix.
(The EAS scoring block, which needs the probabilities themselves, computes them a chunk of
queries at a time: `sparsify.attend_in_chunks`.)
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
    """Boolean (Tq, Tk) mask, True where attention is allowed. Queries are the *last*
    n_queries positions of the key sequence (the decoder appends to its KV cache)."""
    offset = n_keys - n_queries
    query_pos = torch.arange(n_queries, device=device)[:, None] + offset
    return torch.arange(n_keys, device=device)[None, :] <= query_pos


def attention(q: Tensor, k: Tensor, v: Tensor, *, causal: bool, backend: str) -> Tensor:
    """q (B, H, Tq, D), k and v (B, H, Tk, D) -> output (B, H, Tq, D)."""
    n_queries, n_keys = q.shape[-2], k.shape[-2]
    mask = causal_mask(n_queries, n_keys, q.device) if causal and n_queries > 1 else None

    if backend == "sdpa":
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask)

    check_backend(backend)
    scores = (q @ k.transpose(-1, -2)).float() / math.sqrt(q.shape[-1])  # (B, H, Tq, Tk)
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    return scores.softmax(dim=-1).to(v.dtype) @ v
