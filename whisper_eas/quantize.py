"""Int8 weights for CPU inference, swapped into a loaded network from outside it (as gpt-fast
does): `quantize_int8(network)` replaces every Linear by an int8 twin (the tied token embedding /
output projection too with `float_logits=False`). The float32 network stays the reference path.

Weights: symmetric, one scale per output channel, w ~= q * scale with q in [-127, 127].
Activations are quantized on the fly, one 7-bit scale per row (per token), and multiplied int8
by int8 into int32 on FBGEMM, the fastest kernel on this project's CPUs (docs/int8.md): each
row is divided by its own scale, FBGEMM quantizes with scale 1
(`linear_with_input_q_dq_qweight_dq_output_fp32`), and the rows are multiplied back.
- Why per row: one scale for a whole product (FBGEMM's dynamic linear) is too coarse for the
  encoder's 1500 tokens (base lost 1.9 % accuracy on speech-filled windows, 6.79 % against
  4.95 % WER), and in a decoding step it would make a file's numbers depend on the other files
  of its batch (issue 19: 12 of 20 transcripts changed with the batch size). Per row, a row's
  integers, its exact int32 sums and its rescaling are its own.
- Why 7 bits without VNNI: there FBGEMM sums pairs of u8 x s8 products in int16, which 8-bit
  activations can saturate (`fbgemm`). With AVX512-VNNI activations take all 8 bits. A test
  checks the product against exact integer sums with the bits this CPU uses.
In a run of one row by setting (`--batch-size 1`, `model.one_row_run`) on a CPU with bf16
instructions, a lone row is multiplied in bf16 by the int8 weight instead (`Int8Linear.lone_row`:
faster at one row, and closer to float32).
`many_rows="float32"` keeps float32 activations times the dequantized weight for items of more
than `few_rows` tokens (the encoder, long prompts) instead (closer to float32, slower).
On a CPU with AMX the encoder is not quantized but runs in bfloat16 (`encoder_bf16`): there
oneDNN multiplies bf16 tiles ~2x faster than FBGEMM's int8, and the encoder's attention runs
in bf16 too; so do the decoder's cross-attention K/V products (1,500 rows a window); the
rest of the decoder, whose steps are a few rows, stays int8. On an AMD CPU with AVX512-BF16 the
int8 encoder's self-attention, whose products int8 leaves in float32, multiplies in bf16
(`attention_bf16`).
The tied token embedding / output projection stays float32 where the CPU has VNNI
(`float_logits`): every decision of a decoding step (the next token, the timestamp rules, the
thresholds) reads its logits, and with 8-bit activations elsewhere int8 there was the largest
error of a step. With 7-bit activations (no VNNI) the float32 projection bought no accuracy
and cost 10-14 % of the time, so there it is int8 too (docs/int8.md).
"""

from functools import lru_cache

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .attention import fused_on_cpu
from .cpu import has_amx, has_bf16, has_vnni
from .fbgemm import ACTIVATION_LEVELS, integer_product
from .fbgemm import pack as fbgemm_pack
from .model import DerivedWeights, Linear, TokenEmbedding, Whisper, in_one_row_run
from .screening import int8_screen_works

QUANTIZE_ROWS = 4096  # rows at a time, so each step's temporaries stay in the CPU's cache


def quantize_weight(weight: Tensor) -> tuple[Tensor, Tensor]:
    """(N, K) float -> int8 (N, K) and float32 scales (N,), per output channel. A block of rows
    at a time, in place: whole, the token embedding's five passes over fresh 80 MB tensors took
    155 ms of a tiny.en int8 load, in blocks 12 ms (base 215 and 16; AVX2 EPYC), the same
    bits."""
    weight = weight.detach().float()
    largest = [block.abs().amax(dim=1) for block in weight.split(QUANTIZE_ROWS)]
    scales = torch.cat(largest).clamp_min(1e-12) / 127.0
    q = torch.empty(weight.shape, dtype=torch.int8, device=weight.device)
    for start in range(0, len(weight), QUANTIZE_ROWS):
        rows = slice(start, start + QUANTIZE_ROWS)
        q[rows] = (weight[rows] / scales[rows, None]).round_().clamp_(-127, 127)
    return q, scales


MANY_ROWS = ("per_row", "float32")
SMALL_INPUT = 16_384  # elements: up to 8 rows of base's 2048-wide MLP (a decoding step)


class Int8Linear(DerivedWeights):
    """x @ w.T + b with int8 w and float32 x, int8 activations one scale per row; `many_rows`
    picks the activations of items of more than `few_rows` tokens: "per_row" or "float32".

    The FBGEMM pack is derived from the `weight` and `scales` buffers (`DerivedWeights`)."""

    few_rows = 32  # tokens per item: a decoding step has 1, the encoder 1500

    def __init__(self, q: Tensor, scales: Tensor, bias: Tensor | None, many_rows: str):
        super().__init__()
        if many_rows not in MANY_ROWS:
            raise ValueError(f"many_rows must be one of {MANY_ROWS}, got {many_rows!r}")
        self.register_buffer("weight", q)
        self.register_buffer("scales", scales)
        self.register_buffer("bias", None if bias is None else bias.detach().float())
        self.many_rows = many_rows
        self.repack()

    @classmethod
    def from_float(
        cls, weight: Tensor, bias: Tensor | None, many_rows: str = "per_row"
    ) -> "Int8Linear":
        return cls(*quantize_weight(weight), bias, many_rows)

    @classmethod
    def stack(cls, parts: list["Int8Linear"]) -> "Int8Linear":
        """One Int8Linear computing `parts` side by side. The same bits as the parts: a row's
        activation scale is its own either way, and each output's integer sum is exact."""
        bias = torch.cat([
            part.scales.new_zeros(len(part.scales)) if part.bias is None else part.bias
            for part in parts
        ])  # fmt: skip
        weight = torch.cat([part.weight for part in parts])
        scales = torch.cat([part.scales for part in parts])
        return cls(weight, scales, bias, parts[0].many_rows)

    def repack(self) -> None:
        if self.weight.device.type != "cpu" or self.weight.dtype != torch.int8:
            raise ValueError("int8 weights run on the CPU only; use float16/bfloat16 on CUDA")
        self.packed = fbgemm_pack(self.weight, self.scales.float())
        self.unit_scales = torch.ones(len(self.scales), dtype=torch.bfloat16)

    def forward(self, x: Tensor) -> Tensor:
        if x.numel() == x.shape[-1] and in_one_row_run() and lone_rows_in_bf16():
            return self.lone_row(x)
        tokens_per_item = x.shape[-2] if x.ndim >= 2 else 1
        if self.many_rows == "float32" and tokens_per_item > self.few_rows:
            return F.linear(x, self.weight.float() * self.scales[:, None], self.bias)
        # max |x| per row (torch's inf-norm, the same numbers, took 14 % of the int8 encoder's
        # time). A decoding step's few rows: |x| then its max, the fewest ops; the encoder's
        # 1,500: max x and -min x, two reductions that write no temporary as large as x.
        if x.numel() <= SMALL_INPUT:
            row_max = x.abs().amax(dim=-1, keepdim=True)
        else:
            highest, lowest = x.amax(dim=-1, keepdim=True), x.amin(dim=-1, keepdim=True)
            row_max = torch.maximum(highest, lowest.neg_())
        row_scales = row_max.clamp_min_(1e-12).div_(ACTIVATION_LEVELS)
        # x / row_scales lies in [-L, L]: FBGEMM multiplies round(x / row_scale), exactly.
        y = integer_product(x / row_scales, self.packed)
        return y.mul_(row_scales) if self.bias is None else torch.addcmul(self.bias, y, row_scales)

    def lone_row(self, x: Tensor) -> Tensor:
        """One row in a run of one row by setting (`model.one_row_run`, `--batch-size 1`): the
        row in bf16 times the int8 weight (ATen's weight-only int8 product, gpt-fast's), each
        output rescaled by its channel's scale in float32. At one row FBGEMM's call and the
        row's activation scale cost ~40 us a product whatever its size (AMX Xeon, 2 threads);
        this takes 15-43 us, and a row in bf16 keeps 8 bits of each value where 8-bit
        activations keep 8 bits of its largest (relative error of a product of a random row,
        against float32: 5-6e-3, the weights' rounding, against 7-9e-3)."""
        y = torch._weight_int8pack_mm(
            x.reshape(1, -1).to(torch.bfloat16), self.weight, self.unit_scales
        ).view(*x.shape[:-1], -1)
        return y * self.scales if self.bias is None else torch.addcmul(self.bias, y, self.scales)

    def extra_repr(self) -> str:
        return f"in={self.weight.shape[1]}, out={self.weight.shape[0]}, int8 per channel"


@lru_cache(maxsize=1)
def lone_rows_in_bf16() -> bool:
    """Whether a lone row of a run of one row takes `Int8Linear.lone_row`: where the CPU
    multiplies bf16 in hardware and ATen's weight-only int8 product works."""
    return has_bf16() and int8_screen_works()


class BF16Linear(nn.Module):
    """x @ w.T + b with bfloat16 weights for float32 or bfloat16 x; the output is bfloat16.
    For the decoder's cross-attention K/V on a CPU with AMX: made once a window from the
    encoder's 1,500 rows, a product as large as the encoder's, where oneDNN's bf16 tiles run
    ~2.3x faster than FBGEMM's int8 with its per-row scales (base, 8 windows: 15 against
    36 ms a projection) and come 3x closer to float32."""

    def __init__(self, weight: Tensor, bias: Tensor | None):
        super().__init__()
        self.register_buffer("weight", weight.detach().to(torch.bfloat16))
        self.register_buffer("bias", None if bias is None else bias.detach().to(torch.bfloat16))

    def forward(self, x: Tensor) -> Tensor:
        return F.linear(x.to(torch.bfloat16), self.weight, self.bias)


class Int8TokenEmbedding(nn.Module):
    """Int8 token embedding whose rows are also the output projection (tied, as in Whisper)."""

    def __init__(self, weight: Tensor, many_rows: str):
        super().__init__()
        self.projection = Int8Linear.from_float(weight, None, many_rows)

    def forward(self, tokens: Tensor) -> Tensor:
        rows = self.projection.weight[tokens].float()
        return rows * self.projection.scales[tokens][..., None]

    def project(self, x: Tensor) -> Tensor:
        return self.projection(x)


def quantize_int8(
    network: Whisper,
    many_rows: str = "per_row",
    cross_bf16: bool | None = None,
    encoder_bf16: bool | None = None,
    cross_projection_bf16: bool | None = None,
    float_logits: bool | None = None,
    attention_bf16: bool | None = None,
) -> Whisper:
    """Swap every Linear (and, with `float_logits=False`, the token embedding) of a float32
    CPU network for int8, in place; returns the network. `many_rows`: the activations of
    products of more than 32 rows, "per_row" int8 (the default) or "float32" (see the module
    docstring). `cross_bf16`: keep the decoder's cross-attention K/V in bfloat16; None
    (default): where the CPU has bf16 instructions. Beyond a few rows those K/V are the largest
    read of a step: on AVX512-BF16, 12 long recordings cut into parts ran 1.05x (tiny.en) and
    1.08x (base) faster, WER 5.01 -> 5.01 % and 4.74 -> 4.81 % (docs/int8.md).
    `encoder_bf16`: run the encoder in bfloat16 (its float weights cast) and quantize the
    decoder alone; None (default): where the CPU has AMX, on which a bf16 encoder is ~2x faster
    than an int8 one and closer to float32 (its attention runs in bf16 too; docs/int8.md).
    `cross_projection_bf16`: make the decoder's cross-attention K/V from the encoder's rows by
    bf16 products (`BF16Linear`), not int8; None (default): with a bf16 encoder.
    `float_logits`: keep the tied token embedding / output projection in float32, so that a
    step's logits are float32 products of its int8 decoder's last state; None (default): where
    the CPU has VNNI (8-bit activations). Measured (greedy, each recording alone, cut into
    parts, 2 threads): on an AMX Xeon int8 activations in the output projection gave logits
    off by 0.2 on average (max 1.9) and cost WER: base 4.66 -> 4.50 % on the 12 long
    recordings and 5.46 -> 5.24 % on the 16 others, tiny.en 4.93 -> 4.79 % (float32: 4.49 and
    4.81), for 9-16 % more time; exact float32 logits for the top 8 candidates, the timestamps
    and no-speech alone won half of that (4.62 / 5.32). On an AVX2-only EPYC (7-bit
    activations) float32 logits won nothing: tiny.en 5.23 -> 5.46 % and 6.34 -> 6.17 %, base
    4.87 -> 4.79 % and 5.64 -> 5.67 %, for 10-14 % more time.
    `attention_bf16`: multiply the int8 encoder's self-attention in bf16
    (`attention.attention_onednn`); None (default): where the CPU has bf16 instructions and
    that chunked path runs the encoder's attention (an AMD CPU with AVX-512,
    `attention.fused_on_cpu`). Its float32 products were half of the int8 encoder's time
    there: on an AMD EPYC Zen 4 the 12 long recordings ran 1.11x (tiny.en) and 1.16x (base)
    faster, WER 5.14 -> 5.17 % and 4.58 -> 4.60 % (docs/int8.md)."""
    embedding = network.decoder.positional_embedding
    if embedding.device.type != "cpu":
        raise ValueError("int8 weights run on the CPU only; use float16/bfloat16 on CUDA")
    if embedding.dtype != torch.float32:
        raise ValueError(f"int8 weights take float32 activations; got a {embedding.dtype} network")
    encoder_bf16 = has_amx() if encoder_bf16 is None else encoder_bf16
    float_logits = has_vnni() if float_logits is None else float_logits
    if encoder_bf16:
        network.encoder.to(torch.bfloat16).output_dtype = torch.float32
    if encoder_bf16 if cross_projection_bf16 is None else cross_projection_bf16:
        for block in network.decoder.blocks:
            for name in ("key", "value"):
                linear = getattr(block.cross_attn, name)
                setattr(block.cross_attn, name, BF16Linear(linear.weight, linear.bias))
    for module in list((network.decoder if encoder_bf16 else network).modules()):
        for name, child in list(module.named_children()):
            if isinstance(child, Linear):
                setattr(module, name, Int8Linear.from_float(child.weight, child.bias, many_rows))
            elif isinstance(child, TokenEmbedding) and not float_logits:
                setattr(module, name, Int8TokenEmbedding(child.weight, many_rows))
    if attention_bf16 is None:
        attention_bf16 = has_bf16() and not fused_on_cpu()
    if attention_bf16 and not encoder_bf16:
        for block in network.encoder.blocks:
            block.attn.products_dtype = torch.bfloat16
    cross_bf16 = has_bf16() if cross_bf16 is None else cross_bf16
    network.decoder.cross_dtype = torch.bfloat16 if cross_bf16 else None
    return network


def is_int8(network: Whisper) -> bool:
    return any(isinstance(module, Int8Linear) for module in network.modules())
