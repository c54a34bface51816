"""oneDNN's float32 product on the CPU, `x @ w.T`: the kernel of the linear layers
(`model.Linear`, on a copy of each weight packed in oneDNN's blocked layout) and, on AMD's
CPUs with AVX-512, of the encoder's attention (`attention.attention_onednn`, on each head's
keys and values as they are).

Measured on this project's CPUs (AMD EPYC, 2 threads): the encoder's 1500-row linear products
run at ~200 vs ~150 GFLOP/s on MKL, torch's default BLAS here; a decoding step's products,
bound by reading the weights, are faster (tiny.en's output projection at batch 8: 3.5 ms
packed, 6.4 ms unpacked, 6.4 on MKL); a head's 500 x 1500 attention scores take 0.22 ms
against MKL's 0.49. Numerics: float32 throughout, only the summation order differs from
F.linear (~1e-6 relative). The ops are the ones torch.compile's CPU backend emits; they are
private and have no backward, so they serve inference only, and are checked once against
F.linear before use. Set `use_onednn = False` to run everything on torch's default kernels.
"""

from functools import lru_cache

import torch
import torch.nn.functional as F
from torch import Tensor

use_onednn = True
PACKED_FOR_ROWS = 8  # oneDNN's batch-size hint for a packed weight: decoding steps of 8 files

# The op's resolved overload: calling it skips a Python dispatch step (~2 us of a call's ~25 us
# fixed cost, which a decoding step pays 25-37 times).
product_op = getattr(getattr(torch.ops.mkldnn, "_linear_pointwise", None), "default", None)


@lru_cache(maxsize=None)
def onednn_works() -> bool:
    """Whether torch.ops.mkldnn's linear exists here with the signature we call, on a packed
    weight and on a plain one."""
    try:
        x, weight, bias = torch.randn(3, 8), torch.randn(4, 8), torch.randn(4)
        with torch.inference_mode():
            packed = torch.ops.mkldnn._reorder_linear_weight(weight, PACKED_FOR_ROWS)
            expected = F.linear(x, weight, bias)
            return all(
                torch.allclose(product_op(x, w, bias, "none", [], ""), expected, atol=1e-5)
                for w in (packed, weight)
            )
    except (AttributeError, RuntimeError, TypeError):
        return False


def applies(tensor: Tensor) -> bool:
    """Whether products on `tensor` (a weight or an activation) run on oneDNN here."""
    usable = tensor.device.type == "cpu" and tensor.dtype == torch.float32
    return use_onednn and usable and onednn_works()


def pack(weight: Tensor) -> Tensor | None:
    """The weight in oneDNN's blocked layout, or None where oneDNN does not apply."""
    if not applies(weight):
        return None
    with torch.no_grad():
        return torch.ops.mkldnn._reorder_linear_weight(weight.detach(), PACKED_FOR_ROWS)


def product(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """x (..., K) @ weight (N, K).T + bias: `weight` packed (`pack`) or a contiguous (N, K)
    tensor (a strided view of one took ~500x as long). Where `applies` holds. A row gets the
    same bits whatever the rows beside it (batch invariance; a lone row: `lone_row_product`)."""
    if x.numel() == x.shape[-1]:
        return lone_row_product(x, weight, bias)
    return product_op(x, weight, bias, "none", [], "")


# Whether oneDNN gives a lone row, alone, the bits it gets beside other rows, for products of
# a kind: (weight's shape, dtype and layout, bias or not, threads) -> bool, found by the first
# one. The layout tells a packed weight (`pack`) from a plain one, whose kernels differ.
lone_row_alone: dict[tuple, bool] = {}


def lone_row_product(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """`product` of a lone row x (its leading sizes all 1) with the bits it gets in a batch, so
    that a file decoded alone gets the numbers it gets beside others. oneDNN may multiply one
    row by another kernel than several (a matrix-vector product, another summation order), so
    the first product of each kind runs the row alone and as two copies of itself and keeps
    whether they agree; where they do, the row goes alone from then on, else always as two
    copies. On the AVX2 EPYC (torch 2.13, packed weights) they agree for every shape of
    tiny.en and base, and going alone made `--batch-size 1` 1.05x (tiny.en) and 1.09x (base)
    faster, the same texts (`benchmarks/lone_row_alone.py`; docs/tried.md, 2026-12-06)."""
    kind = (weight.shape, weight.dtype, weight.layout, bias is not None, torch.get_num_threads())
    if lone_row_alone.get(kind):
        return product_op(x, weight, bias, "none", [], "")
    paired = product_op(torch.cat((x, x)), weight, bias, "none", [], "")[:1]
    if kind not in lone_row_alone:
        alone = product_op(x, weight, bias, "none", [], "")
        lone_row_alone[kind] = torch.equal(alone, paired)
    return paired
