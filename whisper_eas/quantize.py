"""Int8 weights for CPU inference, swapped into a loaded network from outside it (as gpt-fast
does): `quantize_int8(network)` replaces every Linear, and the tied token embedding / output
projection, by int8 twins. The float32 network stays the reference path.

Weights: symmetric, one scale per output channel, w ~= q * scale with q in [-127, 127].
Products, chosen by measurement on this project's CPU (README "int8 and bfloat16 on CPU"):
- a decoding step (few rows): `torch.ops.quantized.linear_dynamic` (FBGEMM), which quantizes
  the activations on the fly (one scale per product) and multiplies int8 by int8 into int32.
  It beat float32 oneDNN and torch's weight-only `_weight_int8pack_mm` at every shape; a step
  reads a quarter of float32's weight bytes.
- the encoder and prompts (more than `float_activations_above` = 32 rows): float32 activations
  times the dequantized weight, on oneDNN. One activation scale for 1500 tokens is too coarse:
  int8 there cost base 1.9 % accuracy on speech-filled windows (6.79 % against 4.95 % WER;
  one scale per 16 rows: 5.69 %), float32 there 0.4 % (5.32 %).
"""

import warnings

import torch
from torch import Tensor, nn

from .model import Linear, TokenEmbedding, Whisper, linear


def quantize_weight(weight: Tensor) -> tuple[Tensor, Tensor]:
    """(N, K) float -> int8 (N, K) and float32 scales (N,), per output channel."""
    weight = weight.detach().float()
    scales = weight.abs().amax(dim=1).clamp_min(1e-12) / 127.0
    return torch.round(weight / scales[:, None]).clamp(-127, 127).to(torch.int8), scales


def fbgemm_pack(q: Tensor, scales: Tensor, bias: Tensor | None):
    """Prepack int8 weights for FBGEMM's dynamic linear (its quantized-tensor API is the only
    way in; torch marks those constructors deprecated, hence the silenced warning)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        zeros = torch.zeros(q.shape[0], dtype=torch.long)
        weight = torch._make_per_channel_quantized_tensor(q, scales.double(), zeros, 0)
        return torch.ops.quantized.linear_prepack(weight, bias)


class Int8Linear(nn.Module):
    def __init__(
        self, q: Tensor, scales: Tensor, bias: Tensor | None, float_activations_above: int | None
    ):
        super().__init__()
        self.register_buffer("weight", q)
        self.register_buffer("scales", scales)
        self.register_buffer("bias", None if bias is None else bias.detach().float())
        self.packed = fbgemm_pack(q, scales, self.bias)
        self.float_activations_above = float_activations_above  # rows; None: int8 always

    @classmethod
    def from_float(
        cls, weight: Tensor, bias: Tensor | None, float_activations_above: int | None = 32
    ) -> "Int8Linear":
        return cls(*quantize_weight(weight), bias, float_activations_above)

    def forward(self, x: Tensor) -> Tensor:
        limit = self.float_activations_above
        if limit is not None and x.numel() // x.shape[-1] > limit:
            weight = self.weight.float() * self.scales[:, None]
            return linear(x.float(), weight, self.bias).to(x.dtype)
        # reduce_range: 7-bit activations, which keep FBGEMM's int16 sums from saturating on
        # CPUs without VNNI (such as this project's); torch's dynamic quantization does the same.
        return torch.ops.quantized.linear_dynamic(x.float(), self.packed, True).to(x.dtype)

    def extra_repr(self) -> str:
        return f"in={self.weight.shape[1]}, out={self.weight.shape[0]}, int8 per channel"


class Int8TokenEmbedding(nn.Module):
    """Int8 token embedding whose rows are also the output projection (tied, as in Whisper)."""

    def __init__(self, weight: Tensor, float_activations_above: int | None):
        super().__init__()
        self.projection = Int8Linear.from_float(weight, None, float_activations_above)

    def forward(self, tokens: Tensor) -> Tensor:
        rows = self.projection.weight[tokens].float()
        return rows * self.projection.scales[tokens][..., None]

    def project(self, x: Tensor) -> Tensor:
        return self.projection(x)


def quantize_int8(network: Whisper, float_activations_above: int | None = 32) -> Whisper:
    """Swap every Linear (and the token embedding) of a float32 CPU network for int8, in
    place; returns the network. Products with more than `float_activations_above` rows
    multiply float32 activations by the dequantized weight (None: int8 products always,
    faster and less accurate; see the module docstring)."""
    if network.decoder.positional_embedding.device.type != "cpu":
        raise ValueError("int8 weights run on the CPU only; use float16/bfloat16 on CUDA")
    for module in list(network.modules()):
        for name, child in list(module.named_children()):
            if isinstance(child, Linear):
                int8 = Int8Linear.from_float(child.weight, child.bias, float_activations_above)
                setattr(module, name, int8)
            elif isinstance(child, TokenEmbedding):
                setattr(module, name, Int8TokenEmbedding(child.weight, float_activations_above))
    return network


def is_int8(network: Whisper) -> bool:
    return any(isinstance(module, Int8Linear) for module in network.modules())
