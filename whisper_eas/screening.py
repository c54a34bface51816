"""A greedy decoding step's output projection, screened in bfloat16 and exact where it counts.

The output projection (the tied token embedding, 51,864 x D) is the largest read of a float32
decoding step: tiny.en's is 80 MB, base's 106 MB, about a third of a step at one row. Greedy
decoding needs of its logits only the largest (the next token), the largest text logit
against the timestamps' total (openai-whisper's timestamp rule), and the log-softmax's
normaliser (the chosen token's log-probability). On a CPU that multiplies bfloat16 in hardware
a step therefore reads the text columns' weights in bf16 (half the bytes) and then computes in
float32 every column that may be the largest:

- A screened logit is off from the exact one by at most `margin`, per row: with h the row's
  input, e = h - bf16(h) and r_j = w_j - bf16(w_j) the rounding of token j's weights,
  |h.w_j - bf16(h).bf16(w_j)| <= |h||r_j| + |e||bf16(w_j)| (Cauchy-Schwarz), plus what float32
  sums may round (2 K 2^-24 |h||w_j| for both products); and the product's output is rounded
  to bf16 too. Taken over all j, that is two numbers a model (`ScreenedProjection.__init__`)
  times two norms a row.
- A text token can be the largest only if its screened logit is within 2 x margin of the
  largest screened one; those candidates (one to a few a step) are computed in float32 from
  the float32 weights. The timestamp columns (1,501) are a float32 product of their own.
So a row gets float32's tokens and float32's timestamp rule; only the normaliser's far tail
keeps screened values (log-probabilities within ~1e-4 typically, 0.04 at most, on 2,700 steps
of tiny.en and base on real speech, scratch). The bf16 product is oneDNN's packed one, which
gives a row the same bits whatever its batch (a lone row as two copies of it, as
`model.linear`), and each candidate's exact logit is its own sum, so a row's numbers stay its
own. Measured alone (AMD EPYC Zen 5, 2 threads, one row): tiny.en's projection 0.99 -> 0.52 ms
(the bf16 product itself 0.39 ms), base's 1.68 -> 0.71 ms (0.62), the refinement 0.07 ms.

Used by `decoding.generate` at temperature 0 on a CPU with AVX512-BF16 or AMX, for float32
output projections (float32 models, and int8 ones whose projection stays float32); set
`TextDecoder.screened_logits = False` for the plain float32 product.
"""

import torch
from torch import Tensor

from . import onednn

BF16_ROUNDING = 2.0**-8  # bfloat16 rounds a number by at most half this, relative
FLOAT32_SUM = 2.0**-24  # float32's unit roundoff, which a sum of K products may take K times
SAFETY = 1.01  # on the margins, for the roundings in computing them


class ScreenedProjection:
    """Logits (B, V) of rows h (B, D) against `weight` (V, D), float32, whose columns from
    `exact_from` on (the timestamp tokens) are always computed in float32."""

    def __init__(self, weight: Tensor, exact_from: int):
        weight = weight.detach()
        self.weight, self.exact_from = weight, exact_from
        rounded = weight[:exact_from].to(torch.bfloat16)
        self.screen = torch.ops.mkldnn._reorder_linear_weight(rounded, onednn.PACKED_FOR_ROWS)
        self.exact = onednn.pack(weight[exact_from:].contiguous())
        # |r_j| <= |w_j| / 2^9 and |bf16(w_j)| <= |w_j| (1 + 2^-9): both margins from the
        # longest row alone. (The rows' own roundings, a margin 15 % narrower, took three
        # float32 copies of the weight to compute: 0.3-0.75 s and 300 MB in a fresh process.)
        longest = float(torch.linalg.vector_norm(weight[:exact_from], dim=1).amax())
        sums = 2 * weight.shape[1] * FLOAT32_SUM
        self.per_input = (BF16_ROUNDING / 2 + sums) * longest * SAFETY  # times |h|
        self.per_input_rounding = (1 + BF16_ROUNDING / 2) * longest * SAFETY  # times |e|

    def __call__(self, hidden: Tensor) -> tuple[Tensor, Tensor]:
        """-> the screened logits (B, V) and each row's margin (B,): a screened logit y' is
        off from the exact one y by at most margin + BF16_ROUNDING |y'| (the product's output
        is rounded to bf16 too)."""
        n_rows = hidden.shape[0]
        if n_rows == 1:  # a lone row as two copies of it: its bits in a batch (`model.linear`)
            hidden = torch.cat((hidden, hidden))
        rounded = hidden.to(torch.bfloat16)
        screened = onednn.product(rounded, self.screen)
        logits = torch.cat((screened, onednn.product(hidden, self.exact)), dim=1)[:n_rows]
        margin = hidden.norm(dim=1) * self.per_input
        margin += (hidden - rounded.float()).norm(dim=1) * self.per_input_rounding
        return logits, margin[:n_rows]

    def refine(self, logits: Tensor, hidden: Tensor, margin: Tensor) -> None:
        """Compute in float32, in place, every text column of `logits` (screened, then biased
        and masked by 0 or -inf) that may hold its row's largest text logit."""
        text = logits[:, : self.exact_from]
        best = text.amax(dim=1)
        # The exact largest is at least best - its error; a column y' may reach it when
        # y' + BF16_ROUNDING |y'| + margin >= that, and y' + BF16_ROUNDING |y'| grows with y',
        # so each row has one threshold. A row whose text is all masked (-inf) has none.
        reach = best - BF16_ROUNDING * best.abs() - 2 * margin
        floor = torch.where(reach >= 0, reach / (1 + BF16_ROUNDING), reach / (1 - BF16_ROUNDING))
        floor = floor.nan_to_num(nan=torch.inf, neginf=torch.inf)
        rows, columns = (text >= floor[:, None]).nonzero(as_tuple=True)
        text[rows, columns] = (hidden[rows] * self.weight[columns]).sum(dim=1)
