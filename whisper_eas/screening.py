"""A greedy decoding step's output projection, screened in fewer bytes and exact where it counts.

The output projection (the tied token embedding, 51,864 x D) is the largest read of a float32
decoding step: tiny.en's is 80 MB, base's 106 MB, about a third of a step at one row. Greedy
decoding needs of its logits only the largest (the next token), the largest text logit
against the timestamps' total (openai-whisper's timestamp rule), and the log-softmax's
normaliser (the chosen token's log-probability). A step therefore reads the text columns'
weights in a narrower type and then computes in float32 every column that may be the largest:

- bf16 on a CPU that multiplies bfloat16 in hardware (AVX512-BF16, AMX): half the bytes, in
  oneDNN's packed product, which gives a row the same bits whatever its batch (a lone row too,
  `onednn.lone_row_product`).
- int8 for a run of one row (`--batch-size 1`) without AMX (and without "int8x2-fbgemm"): a
  quarter of the bytes, one bf16 scale a row (so q_j s_j is exact in float32), in ATen's
  weight-only int8 product (`torch._weight_int8pack_mm`, gpt-fast's int8 path), which
  computes each row apart (tested).
- "int8x2" on a CPU with AMX: the same int8 rows, times the row h split into two int8 rows
  (h ~= a q_a + b q_b, ~16 bits) in oneDNN's int8 product, whose integer sums are exact; its
  margin is int8's, with a far smaller rounding of h. There ATen's int8 kernel is slower
  than bf16's at eight rows and FBGEMM's compute-bound at sixteen; oneDNN's AMX tiles take
  one to sixteen rows in about the same time.
- "int8x2-fbgemm" for a run of one row on a CPU without bf16 instructions: the same, in
  FBGEMM's int8 product (`fbgemm`), whose activations take 7 bits there (h ~= a q_a + b q_b,
  ~13 bits). ATen's int8 product converts each weight to float and is bound by that
  arithmetic on AVX2 (tiny.en's text columns: 1.3-1.5 ms a row at 2 threads, 6.6 GB/s),
  oneDNN's int8 saturates there; FBGEMM multiplies bytes (0.9 ms for a row's two, 2.3 ms for
  eight rows' sixteen against ATen's 4.5, AMD EPYC with AVX2 only). Several rows there take
  no screen: eight float32 rows cost about what sixteen int8 rows do (`decoding.screen_kind`).

bf16 and int8 multiply bf16(h), the row's input rounded (int8x2: its two int8 rows). With
d_j token j's screened weights, r_j = w_j - d_j and e = h - bf16(h):
h.w_j - bf16(h).d_j = e.w_j + bf16(h).r_j, so by Cauchy-Schwarz a screened logit is off by
at most |e||w_j| + |bf16(h)||r_j|, plus what float32 sums may round (2 K 2^-24 |h||w_j|),
plus the product's output rounding to bf16 (relative). Each column's
margin is thus two norms of the row times two norms of the column, computed once: |w_j|, and
|r_j| exactly for int8 (its |r_j| vary by 2x between tokens; with the longest row's alone a
tiny.en step refined a median 35 columns, 5 % of steps thousands, against 1 and none), or
bounded by 2^-9 |w_j| for bf16 (enough there: one to two columns a step).
- A text token can be the largest only if its screened logit plus its margin reaches some
  other screened logit minus that one's margin; those candidates (one to a few a step) are
  computed in float32 from the float32 weights. The timestamp columns (1,501) are a float32
  product of their own.
So a row gets float32's tokens and float32's timestamp rule; only the normaliser's far tail
keeps screened values (log-probabilities within ~1e-4 typically, 0.04 at most, on 2,700 steps
of tiny.en and base on real speech, scratch). Each candidate's exact logit is its own sum, so a
row's numbers stay its own. Measured alone (AMD EPYC Zen 5, 2 threads, one row): tiny.en's
projection 0.99 -> 0.52 ms in bf16 (the product itself 0.39 ms), base's 1.68 -> 0.71 ms; in
int8 with ATen and oneDNN capped at AVX2, 1.87 -> 0.95 ms and 2.33 -> 1.11 ms. At 8 rows the
int8 product costs 8 times one row (it computes each apart), about float32's 8-row time.

Used by `decoding.generate` at temperature 0 on a CPU, for float32 output projections (float32
models, and int8 ones whose projection stays float32). Set `TextDecoder.screened_logits = False`
for the plain float32 product.
"""

from functools import lru_cache

import torch
from torch import Tensor

from . import fbgemm, onednn

BF16_ROUNDING = 2.0**-8  # bfloat16 rounds a number by at most half this, relative
FLOAT32_SUM = 2.0**-24  # float32's unit roundoff, which a sum of K products may take K times
SAFETY = 1.01  # on the margins, for the roundings in computing them
# Candidates a row refines one by one at most; past that (a flat distribution), its whole text
# product in float32: gathering that many rows of the weight costs about as much.
MAX_REFINED = 4096
KINDS = ("bf16", "int8", "int8x2", "int8x2-fbgemm")


class ScreenedProjection:
    """Logits (B, V) of rows h (B, D) against `weight` (V, D), float32, whose columns from
    `exact_from` on (the timestamp tokens) are always computed in float32; the others are
    screened in `kind`, one of KINDS."""

    def __init__(self, weight: Tensor, exact_from: int, kind: str = "bf16"):
        if kind not in KINDS:
            raise ValueError(f"a screen is one of {KINDS}, got {kind!r}")
        weight = weight.detach()
        self.weight, self.exact_from, self.kind = weight, exact_from, kind
        self.exact = onednn.pack(weight[exact_from:].contiguous())
        text = weight[:exact_from]
        norms = torch.linalg.vector_norm(text, dim=1)
        if kind == "bf16":
            rounded = text.to(torch.bfloat16)
            self.screen = torch.ops.mkldnn._reorder_linear_weight(rounded, onednn.PACKED_FOR_ROWS)
            residual = norms * (BF16_ROUNDING / 2)  # bf16 rounds each weight by 2^-9 at most
        else:
            self.screen, self.scales, residual = int8_rows(text)
        if kind == "int8x2":
            self.screen = torch.ops.onednn.qlinear_prepack(self.screen, None)
            self.scales = self.scales.float()
            self.zero_points = torch.zeros(len(self.scales), dtype=torch.long)  # symmetric
        elif kind == "int8x2-fbgemm":
            self.screen = fbgemm.pack(self.screen, self.scales.float())
        sums = 2 * weight.shape[1] * FLOAT32_SUM
        # A column's margin: |bf16(h)| times `per_input` (|r_j|, and float32's sums), plus |e|
        # times `per_rounding` (|w_j|).
        self.per_input = (residual + sums * norms) * SAFETY
        self.per_rounding = norms * SAFETY
        self.widest = torch.stack((self.per_input.max(), self.per_rounding.max()))

    def __call__(self, hidden: Tensor) -> tuple[Tensor, Tensor]:
        """-> the screened logits (B, V) and each row's norms (|bf16(h)|, |e|) (B, 2), which
        give its columns' margins (`margins`)."""
        # oneDNN gives a row, lone or not, its bits in a batch (`onednn.product`); ATen's int8
        # product computes each row apart.
        exact = onednn.product(hidden, self.exact)
        if self.kind.startswith("int8x2"):
            screened, norms = self.two_int8_rows(hidden)
            return torch.cat((screened, exact), dim=1), norms
        rounded = hidden.to(torch.bfloat16)
        if self.kind == "bf16":
            screened = onednn.product(rounded, self.screen)
        else:
            screened = torch._weight_int8pack_mm(rounded, self.screen, self.scales)
        rounded = rounded.float()
        norms = torch.stack((rounded.norm(dim=1), (hidden - rounded).norm(dim=1)), dim=1)
        return torch.cat((screened, exact), dim=1), norms

    def two_int8_rows(self, hidden: Tensor) -> tuple[Tensor, Tensor]:
        """The "int8x2" screens: each row h as two int8 rows, h ~= a q_a + b q_b (q_a its
        rounding to L levels at scale a, q_b the rest's at scale b: ~16 bits for L = 127),
        both multiplied by the int8 text columns in one product whose integer sums are exact
        (oneDNN's on AMX or VNNI tiles; FBGEMM's, L its `ACTIVATION_LEVELS`). So h.w_j is off
        by (a q_a + b q_b).r_j + e.w_j, e the rest's rounding: the int8 screen's margin with
        a far smaller e. -> screened text logits (B, V_text), norms (B, 2)."""
        levels = 127.0 if self.kind == "int8x2" else fbgemm.ACTIVATION_LEVELS
        first_scale = hidden.abs().amax(dim=1, keepdim=True).clamp_min_(1e-30) / levels
        first = torch.round(hidden / first_scale).clamp_(-levels, levels)
        rest = hidden - first * first_scale
        second_scale = rest.abs().amax(dim=1, keepdim=True).clamp_min_(1e-30) / levels
        second = torch.round(rest / second_scale).clamp_(-levels, levels)
        rows = torch.stack((first, second), dim=1).flatten(0, 1)  # (2B, D): a row's two apart
        if self.kind == "int8x2":
            rows = rows.add_(128).to(torch.uint8)
            products = int8_product(rows, self.screen, self.scales, self.zero_points)
        else:
            products = fbgemm.integer_product(rows, self.screen)
        products = products.view(len(hidden), 2, -1)
        # Multiplied and added apart (no fused multiply-add), so each element's bits are the
        # same whatever the batch.
        screened = products[:, 0] * first_scale
        screened += products[:, 1] * second_scale
        approx = first * first_scale + second * second_scale
        # |e| as computed, plus what float32 may have rounded in computing it (~2^-23 |h|).
        rest_norm = (hidden - approx).norm(dim=1) + 4 * FLOAT32_SUM * hidden.norm(dim=1)
        return screened, torch.stack((approx.norm(dim=1), rest_norm), dim=1)

    def margins(self, norms: Tensor) -> Tensor:
        """How far each screened text logit (B, V_text) may be from the exact one, for rows of
        `norms`, besides the bf16 rounding of its output (BF16_ROUNDING of its size)."""
        return norms[:, 0:1] * self.per_input + norms[:, 1:2] * self.per_rounding

    def margin_at(self, norms: Tensor, columns: Tensor) -> Tensor:
        """`margins` of one column a row: rows' norms (N, 2), their columns (N,) -> (N,)."""
        return norms[:, 0] * self.per_input[columns] + norms[:, 1] * self.per_rounding[columns]

    def refine(self, logits: Tensor, hidden: Tensor, norms: Tensor) -> None:
        """Compute in float32, in place, every text column of `logits` (screened, then biased
        and masked by 0 or -inf) that may hold its row's largest text logit."""
        text = logits[:, : self.exact_from]
        best = text.amax(dim=1)
        # The exact largest is at least the screened best's lower bound, and a column within
        # its own margin of that is within twice the widest (y' + BF16_ROUNDING |y'| grows with
        # y', so each row has one threshold). A row whose text is all masked (-inf) has none.
        reach = best - BF16_ROUNDING * best.abs() - 2 * (norms @ self.widest)
        floor = torch.where(reach >= 0, reach / (1 + BF16_ROUNDING), reach / (1 - BF16_ROUNDING))
        floor = floor.nan_to_num(nan=torch.inf, neginf=torch.inf)
        rows, columns = (text >= floor[:, None]).nonzero(as_tuple=True)
        # Then with each column's own margin: the exact largest is at least the largest lower
        # bound among these (the best is one of them); a column may reach it if its upper
        # bound does.
        screened = text[rows, columns]
        spread = BF16_ROUNDING * screened.abs() + self.margin_at(norms[rows], columns)
        lower = torch.full_like(best, -torch.inf).scatter_reduce(0, rows, screened - spread, "amax")
        reaches = screened + spread >= lower[rows]
        rows, columns = rows[reaches], columns[reaches]
        # A row with many candidates (a flat distribution) gets its whole text product in
        # float32, alone: gathering that many rows of the weight costs about as much.
        if len(rows) > MAX_REFINED:
            crowded = torch.bincount(rows, minlength=len(text)) > MAX_REFINED
            for row in crowded.nonzero()[:, 0].tolist():
                exact = self.weight[: self.exact_from] @ hidden[row]  # (rare: no packed copy)
                text[row] = torch.where(text[row] == -torch.inf, text[row], exact)
            kept = ~crowded[rows]
            rows, columns = rows[kept], columns[kept]
        text[rows, columns] = (hidden[rows] * self.weight[columns]).sum(dim=1)


CHUNK = 4096  # rows of the weight at a time, for its int8 rows (no float32 copy of it)


def int8_rows(weight: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """`weight` (V, D) as int8 rows q_j (V, D), their bf16 scales s_j (V,) (so that q_j s_j is
    exact in float32), and each row's |w_j - q_j s_j| (V,)."""
    rows, scales, residuals = [], [], []
    for part in weight.split(CHUNK):
        scale = (part.abs().amax(dim=1) / 127).clamp_min(1e-30).to(torch.bfloat16).float()
        q = torch.round(part / scale[:, None]).clamp(-127, 127)
        residuals.append(torch.linalg.vector_norm(part - q * scale[:, None], dim=1))
        rows.append(q.to(torch.int8))
        scales.append(scale.to(torch.bfloat16))
    return torch.cat(rows), torch.cat(scales), torch.cat(residuals)


def int8_product(rows: Tensor, packed: Tensor, scales: Tensor, zero_points: Tensor) -> Tensor:
    """(rows - 128) @ q.T * scales, float32 (N, V), for uint8 `rows` (N, K) and int8 weights q
    packed by oneDNN (`qlinear_prepack`), one scale a column (`zero_points` all 0, made once
    by the caller: a step should not zero a vocabulary's worth): exact int32 sums, each
    scaled once."""
    return torch.ops.onednn.qlinear_pointwise(
        rows, 1.0, 128, packed, scales, zero_points, None, 1.0, 0, torch.float32, "none", [], ""
    )


@lru_cache(maxsize=None)
def int8x2_screen_works() -> bool:
    """Whether oneDNN's int8 product exists here and sums loud rows exactly (without VNNI, u8 x
    s8 pairs may saturate int16: this catches it)."""
    try:
        q = torch.full((64, 96), 127, dtype=torch.int8)
        q[::2] = -127
        rows = torch.tensor([[255] * 96, [1] * 96, list(range(1, 97))], dtype=torch.uint8)
        scales = torch.ones(64)
        with torch.inference_mode():
            packed = torch.ops.onednn.qlinear_prepack(q, None)
            out = int8_product(rows, packed, scales, torch.zeros(64, dtype=torch.long))
        expected = (rows.double() - 128) @ q.double().T
        return torch.equal(out.double(), expected)
    except (AttributeError, RuntimeError, TypeError):
        return False


@lru_cache(maxsize=None)
def bf16_screen_works() -> bool:
    """Whether oneDNN packs and multiplies bfloat16 here (not where ONEDNN_MAX_CPU_ISA caps it
    below the CPU's bf16 instructions)."""
    try:
        weight = torch.randn(64, 32).to(torch.bfloat16)
        packed = torch.ops.mkldnn._reorder_linear_weight(weight, onednn.PACKED_FOR_ROWS)
        with torch.inference_mode():
            onednn.product(torch.randn(2, 32).to(torch.bfloat16), packed)
        return True
    except (AttributeError, RuntimeError, TypeError):
        return False


@lru_cache(maxsize=None)
def int8_screen_works() -> bool:
    """Whether ATen's weight-only int8 product exists here and multiplies as expected."""
    try:
        weight = torch.randn(64, 32)
        q, scales, _ = int8_rows(weight)
        x = torch.randn(3, 32).to(torch.bfloat16)
        with torch.inference_mode():
            out = torch._weight_int8pack_mm(x, q, scales).float()
        expected = x.float() @ (q.float() * scales.float()[:, None]).T
        return torch.allclose(out, expected, rtol=2e-2, atol=1e-2)
    except (AttributeError, RuntimeError, TypeError):
        return False


def screen_works(kind: str) -> bool:
    """Whether a screen of `kind` (one of KINDS) runs on this CPU."""
    checks = {
        "bf16": bf16_screen_works,
        "int8": int8_screen_works,
        "int8x2": int8x2_screen_works,
        "int8x2-fbgemm": fbgemm.product_is_exact,
    }
    return checks[kind]()
