"""FBGEMM's int8 product on the CPU, `(rows) @ q.T * scales`: the kernel of the int8 linear
layers (`quantize.Int8Linear`) and of the int8x2-fbgemm screen of the output projection
(`screening`). Its weights are int8, one scale per output channel; its activations are
unsigned bytes, which it multiplies into exact integer sums.

How many bits an activation may take depends on the CPU. Without AVX512-VNNI FBGEMM sums
pairs of u8 x s8 products in int16: 7-bit activations keep every pair within it
(2 * 127 * 127 < 2^15); 8-bit ones saturate as soon as a row has a loud channel (measured: sums
off by thousands), a silent wrong answer. With VNNI the products go straight into int32, so
activations take all 8 bits (`ACTIVATION_LEVELS`). `product_is_exact` checks the sums once.
"""

import warnings
from functools import lru_cache

import torch
from torch import Tensor

from .cpu import has_vnni

# The largest |integer| an activation takes: 8 bits with VNNI, 7 elsewhere (module docstring);
# measured on 50 dev-clean clips with VNNI: base int8 7 bits 5.86 %, 8 bits 5.49 % WER (float32
# 5.20 %).
ACTIVATION_LEVELS = 127.0 if has_vnni() else 63.0

# The op's resolved overload: calling it skips a Python dispatch step, ~10 us a product, which
# is a third of a small decoding-step product. It quantizes its float input with the scale and
# zero point it is given; callers pass rows already divided by their own scales (scale 1).
prescaled_linear = torch.ops.quantized.linear_with_input_q_dq_qweight_dq_output_fp32.default


def pack(q: Tensor, scales: Tensor, bias: Tensor | None = None):
    """Prepack int8 weights q (N, K), one float scale a row, for FBGEMM (its quantized-tensor
    API is the only way in; torch marks those constructors deprecated, hence the silenced
    warning)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        zeros = torch.zeros(q.shape[0], dtype=torch.long)
        weight = torch._make_per_channel_quantized_tensor(q, scales.double(), zeros, 0)
        return torch.ops.quantized.linear_prepack(weight, bias)


def integer_product(rows: Tensor, packed) -> Tensor:
    """rows (N, K), float32 in [-ACTIVATION_LEVELS, ACTIVATION_LEVELS], each rounded to the
    nearest integer (its activation), times the packed weight: float32 (N, V), each an exact
    integer sum times its column's scale."""
    # Quantized with scale 1 and zero point L + 1, a row is the unsigned bytes FBGEMM takes.
    return prescaled_linear(rows, 1.0, int(ACTIVATION_LEVELS) + 1, packed)


@lru_cache(maxsize=None)
def product_is_exact() -> bool:
    """Whether FBGEMM's product exists here and sums the loudest rows exactly."""
    try:
        q = torch.full((64, 96), 127, dtype=torch.int8)
        q[::2] = -127
        loud = ACTIVATION_LEVELS
        rows = torch.tensor([[loud] * 96, [-loud] * 96, [(-1) ** i * loud for i in range(96)]])
        with torch.inference_mode():
            out = integer_product(rows, pack(q, torch.ones(64)))
        return torch.equal(out.double(), rows.double() @ q.double().T)
    except (AttributeError, RuntimeError, TypeError):
        return False
