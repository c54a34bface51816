"""Scaled dot-product attention, written once, with a per-call backend, and the
probability-returning variant that the EAS scoring block needs.

`"eager"` is the reference: it materialises the (B, H, Tq, Tk) probabilities and computes the
softmax in float32 whatever the model dtype. `"sdpa"` never builds the full matrix: it calls
PyTorch's fused kernels (flash / memory-efficient on CUDA, a fused CPU kernel otherwise),
except for float32 without a mask (the encoder) on an AMD CPU with AVX-512, where each head's
two products run on oneDNN a chunk of queries at a time (`attention_onednn`): the fused CPU
kernel's products run on MKL, which takes its AVX-512 kernels on Intel's CPUs only
(`fused_on_cpu`).
`attention_with_received` computes the probabilities a chunk of queries at a time and returns,
beside the output, the attention each key *receives* (the EAS importance, Eq. 1); in float32
on a CPU its products run on oneDNN too.

Masks are boolean, True where attention is allowed, broadcastable to (B, H, Tq, Tk). Only the
decoder masks: its self-attention reads the static cache (whole blocks of it in a step),
each query up to its own position (`model.KVCache.place`). The encoder and cross-attention
attend to everything they are given (rows of a batch that keep different numbers of audio
tokens are attended apart, `model.KVCache.cross_groups`).

Batch invariance: under `"eager"`, a row's output does not depend on the other rows of the
batch (batched products and a softmax per row; tested). The decoder runs eager by default,
where a row's numbers must be its own; the encoder runs one window at a time
(`windows.encode`). PyTorch's fused CPU kernel gives a row the same bits alone as in batches of
up to 8 for 224 to 1,500 float32 queries and for bf16 steps (torch 2.13, tested), but not
for one to three float32 queries at 2 or more threads on every CPU (AMD EPYC Zen 4: off by up
to 8e-8); so float32 decoding steps stay eager.
"""

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from . import onednn
from .cpu import has_avx512, is_intel

BACKENDS = ("eager", "sdpa")
QUERY_CHUNK = 500  # queries a product of `attention_onednn` takes: a 30 s window's 1500 in 3


def on_onednn(q: Tensor) -> bool:
    """Whether attention on q runs its products on oneDNN: float32 CPU inference (the op has
    no backward)."""
    return onednn.applies(q) and not torch.is_grad_enabled()


def fused_on_cpu() -> bool:
    """Whether `"sdpa"` takes PyTorch's fused kernel for float32 on this CPU, not
    `attention_onednn`: everywhere but on an AMD CPU with AVX-512. There MKL, which the fused
    kernel's products run on, computed a head's scores at ~77 GFLOP/s, and `attention_onednn`
    made long recordings 1.09-1.16x faster (AMD EPYC Zen 5, docs/tried.md). Where both run
    AVX2 (an AMD EPYC without AVX-512) the fused kernel, which never writes a head's scores
    out, ran a tiny.en block in 26 against 36-43 ms and long recordings 1.07x faster; on an
    Intel Xeon (AMX) 1.05-1.09x faster (benchmarks/results/encoder_attention_*_cpu.md)."""
    return is_intel() or not has_avx512()


def check_backend(backend: str) -> str:
    if backend not in BACKENDS:
        raise ValueError(f"unknown attention backend {backend!r}; choose one of {BACKENDS}")
    return backend


def attention(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    *,
    mask: Tensor | None = None,
    backend: str = "sdpa",
    products_dtype: torch.dtype | None = None,
) -> Tensor:
    """q (B, H, Tq, D), k and v (B, H, Tk, D) -> output (B, H, Tq, D). `products_dtype`:
    bfloat16 multiplies `attention_onednn`'s products in bf16 where `"sdpa"` takes that path
    (int8's encoder, `quantize.quantize_int8`); the other paths compute in q's dtype."""
    if backend == "sdpa":
        if mask is None and on_onednn(q) and not fused_on_cpu():
            return attention_onednn(q, k, v, products_dtype=products_dtype)
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    check_backend(backend)
    if q.shape[-2] == 1 and q.dtype == torch.bfloat16 and q.device.type == "cpu":
        # One query against bf16 keys (int8's cross K/V in a decoding step): oneDNN's batched
        # product runs 1.4-2.5x faster with the keys as its left operand (3-8 rows; float32's
        # runs faster the usual way round).
        scores = (k @ q.transpose(-1, -2)).transpose(-1, -2)
    else:
        scores = q @ k.transpose(-1, -2)
    # In place on the fresh scores: a decoding step calls this twice a layer, on small tensors,
    # where each op's fixed cost is what counts.
    scores = scores.float().div_(math.sqrt(q.shape[-1]))  # (B, H, Tq, Tk)
    if mask is not None:
        scores.masked_fill_(~mask, float("-inf"))
    return scores.softmax(dim=-1).to(v.dtype) @ v


def attention_onednn(
    q: Tensor,
    k: Tensor,
    v: Tensor | None,
    chunk_size: int = QUERY_CHUNK,
    received: Tensor | None = None,
    products_dtype: torch.dtype | None = None,
) -> Tensor | None:
    """`"sdpa"` for float32 without a mask on an AMD CPU with AVX-512 (`fused_on_cpu`), and
    the EAS scoring block on every CPU: q (B, H, Tq, D), k and v (B, H, Tk, D)
    -> (B, H, Tq, D) (None when `v` is None). Each head's scores and output are two products
    on oneDNN, the linear layers' kernel, `chunk_size` queries at a time, so that only
    (chunk, Tk) scores are held; `received` (B, H, Tk), when given, gains each key's summed
    probabilities (`attention_with_received`). PyTorch's fused CPU kernel runs its products on
    MKL, which took a head's q.kT over a window in 1.4 ms against oneDNN's 0.66 (AMD EPYC, 2
    threads): 12 long recordings transcribed 1.16x (tiny.en) and 1.14x (base) faster, with the
    same float32 texts (docs/tried.md). A row's numbers are its own: every (row, head) is
    computed alone.

    `products_dtype=torch.bfloat16` (int8's encoder on an AMD CPU with AVX512-BF16): the
    operands are rounded to bf16 and both products and the softmax run in bf16 (ATen's bf16
    product, oneDNN's AVX512-BF16 kernel, accumulates in float32; the softmax computes in
    float32 and rounds its output); the output is q's dtype. On an AMD EPYC Zen 4 (2 threads)
    a head's 500 queries take 0.89 ms against float32's 1.43, int8's encoder a window 1.3x
    faster, and the features stay as close to float32's (docs/int8.md)."""
    batch, heads, length, width = q.shape
    out = None if v is None else q.new_empty(batch, heads, length, width)
    q, product = q.mul(1 / math.sqrt(width)), onednn.product
    if products_dtype not in (None, q.dtype):
        q, k, v = (None if t is None else t.to(products_dtype) for t in (q, k, v))
        product = bf16_product
    # Contiguous (B, H, T, D) operands, the values transposed as a product's (N, K) weight: a
    # head's slice of a strided view took ~500x as long.
    q, k = q.contiguous(), k.contiguous()
    values_t = None if v is None else v.transpose(-1, -2).contiguous()  # (B, H, D, Tk)
    for row in range(batch):
        for head in range(heads):
            for start in range(0, length, chunk_size):
                rows = slice(start, start + chunk_size)
                scores = product(q[row, head, rows], k[row, head])  # (chunk, Tk)
                probs = scores.softmax(dim=-1)
                if received is not None:
                    received[row, head] += probs.sum(dim=0)
                if out is not None:
                    out[row, head, rows] = product(probs, values_t[row, head])
    return out


def bf16_product(x: Tensor, weight: Tensor) -> Tensor:
    """x (M, K) @ weight (N, K).T in bf16: ATen's product (0.27 ms for a head's 500 x 1500
    scores against 0.42 through `onednn.product`'s op, which packs for float32 weights)."""
    return x @ weight.T


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
    received = torch.zeros(k.shape[:-1], dtype=torch.float32, device=k.device)
    if on_onednn(q):
        output = attention_onednn(q, k, v, chunk_size, received)
        return output, received / q.shape[-2]
    scale = 1.0 / math.sqrt(q.shape[-1])
    key_t = k.transpose(-1, -2)
    outputs = []
    for q_chunk in q.split(chunk_size, dim=-2):
        probs = (q_chunk @ key_t).float().mul_(scale).softmax(dim=-1)  # (B, H, chunk, Tk)
        received += probs.sum(dim=-2)
        if v is not None:
            outputs.append(probs.to(v.dtype) @ v)
    output = torch.cat(outputs, dim=-2) if v is not None else None
    return output, received / q.shape[-2]
