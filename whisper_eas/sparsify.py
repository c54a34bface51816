"""Early Attentive Sparsification (EAS): drop the audio tokens an early encoder block attends
to least, and run the rest of the encoder and the whole decoder on the shorter sequence.

Paper: Xu et al., "Early Attentive Sparsification Accelerates Neural Speech Transcription",
arXiv 2506.15912, Sec. 3.2, Eq. 1-2 (importance and gather) and Sec. 6.2 (aggregation).

Layer convention, pinned here and in tests/test_sparsify.py: `layer=i` (1-based) drops tokens
*after* `blocks[i-1]`, i.e. before `blocks[i]`, scored by the self-attention of `blocks[i-1]`.
`layer=L` (the last block) shortens only the decoder's cross-attention.

The paper's path: the scoring block's post-softmax attention A[b, h, t', t] (batch, head,
query, key) is averaged over queries and heads, I_t = 1/(H T) sum_{h,t'} A[h,t',t] (Eq. 1),
and the top k tokens are kept in time order.

Which tokens are kept is a keep rule's answer (rules.py: the paper's top-k, the speech budget,
truncation, random, SpeechPrune, the VAD-aware budget, or a rule of one's own); this module holds
where it runs (`EASConfig`: a layer and a rule), how the scoring block's attention is read, and
the stage that gathers the kept tokens.
"""

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from .attention import attention, attention_with_received
from .rules import KeepRule, Scoring, Tokens, Truncate, check_rule, checked_keep, load_rule
from .vad import VadOptions

SAMPLES_PER_TOKEN = 320  # 16 kHz: hop 160 samples per mel frame, stride-2 conv -> 20 ms a token

# The settings the search chose (benchmarks/eas_any_audio.sh; README "EAS on any audio"):
# truncation at the audio's end + 300 tokens. Every speech token is kept; the padding right
# after the speech was as accurate as the most-attended padding and needs no scoring pass.
# P = 50 failed, 100-300 held. After block 1 for tiny.en (it held on both validation sets and
# its 4-block encoder gains most from it); after block 2 for base (block 1 failed validation).
# Only a cut of 500 tokens or more is made (`min_dropped`): smaller cuts, a long recording's
# parts, cost a batch more than they saved (benchmarks/eas_min_dropped.py).
RECOMMENDED = {
    "tiny.en": dict(layer=1, rule=Truncate(padding_tokens=300, min_dropped=500)),
    "base": dict(layer=2, rule=Truncate(padding_tokens=300, min_dropped=500)),
}


@dataclass(frozen=True)
class EASConfig:
    """Where to sparsify and by which rule.

    layer: 1-based encoder block after which tokens are dropped (1 <= layer <= n_audio_layer).
    rule: which tokens are kept (rules.py), or its import path "package.module:Name".
    """

    layer: int
    rule: KeepRule | str

    def __post_init__(self):
        if isinstance(self.layer, bool) or not isinstance(self.layer, int) or self.layer < 1:
            raise ValueError(
                f"EAS layer must be an integer >= 1 (1-based block index), got {self.layer!r}"
            )
        if isinstance(self.rule, (int, float)):
            raise ValueError(
                f"EAS rule must be a keep rule, e.g. EASConfig({self.layer}, TopK({self.rule})), "
                f"got {self.rule!r}"
            )
        if isinstance(self.rule, str):
            load_rule(self.rule)  # a rule that cannot be loaded is refused here, by name
        else:
            check_rule(self.rule, repr(self.rule))

    @classmethod
    def recommended(cls, model_name: str = "base") -> "EASConfig":
        """The setting the search chose for `model_name` (tiny.en or base; other models get
        base's, which keeps every speech token and so cannot harm a full window)."""
        return cls(**RECOMMENDED.get(model_name, RECOMMENDED["base"]))

    @property
    def keep_rule(self) -> KeepRule:
        return load_rule(self.rule) if isinstance(self.rule, str) else self.rule

    @property
    def scoring(self) -> Scoring | None:
        return getattr(self.keep_rule, "scoring", None)

    @property
    def vad(self) -> VadOptions | None:
        """The VAD options when the rule asks which tokens the VAD heard as speech."""
        return getattr(self.keep_rule, "vad", None)

    def check_layers(self, n_layers: int) -> None:
        if self.layer > n_layers:
            raise ValueError(
                f"EAS layer {self.layer} is out of range: this encoder has blocks 1..{n_layers}"
            )

    def drops_anything(
        self, n_tokens: int, n_speech: list[int] | None, voiced: list[Tensor] | None = None
    ) -> bool:
        """Whether some row loses a token; a rule without `keeps_all` is asked every time."""
        keeps_all = getattr(self.keep_rule, "keeps_all", None)
        if keeps_all is None:
            return True
        rows = n_speech if n_speech is not None else [None]
        heard = voiced if voiced is not None else [None] * len(rows)
        return not all(
            keeps_all(n_tokens, audio_tokens(n, n_tokens), v) for n, v in zip(rows, heard)
        )

    def scoring_blocks(self) -> range:
        """0-based indices of the blocks whose attention is scored."""
        if self.scoring is None:
            return range(0)
        return range(self.layer) if self.scoring.cross_layer else range(self.layer - 1, self.layer)


def audio_tokens(n_speech: int | None, n_tokens: int) -> int:
    """A row's tokens that hold audio, as a rule sees it: 1..n_tokens (None: all of them)."""
    return n_tokens if n_speech is None else min(max(n_speech, 1), n_tokens)


def speech_tokens(n_samples: int) -> int:
    """Audio tokens that hold a window's samples (the rest of the 1500 are zero padding)."""
    return math.ceil(n_samples / SAMPLES_PER_TOKEN)


def received_attention(q: Tensor, k: Tensor, v: Tensor, scoring: Scoring) -> tuple[Tensor, Tensor]:
    """The scoring block's self-attention output (B, H, T, D) and R[b, h, t], the attention
    token t receives in head h averaged over queries, (B, H, T) float32."""
    if scoring.scorer == "exact":  # the paper's path: one pass gives the output and the scores
        return attention_with_received(q, k, v, scoring.chunk_size)
    # Ablations: the block runs under SDPA, the scores are computed (or approximated) apart.
    out = attention(q, k, v, backend="sdpa")
    if scoring.scorer == "chunked":
        return out, attention_with_received(q, k, None, scoring.chunk_size)[1]
    if scoring.scorer == "strided":
        strided = q[..., :: scoring.query_stride, :]
        return out, attention_with_received(strided, k, None, scoring.chunk_size)[1]
    # binarized: sign activations rescaled by their mean magnitude (XNOR-Net style), so the
    # softmax keeps roughly the temperature of the real scores.
    q_bin = q.sign() * q.abs().mean(dim=-1, keepdim=True)
    k_bin = k.sign() * k.abs().mean(dim=-1, keepdim=True)
    return out, attention_with_received(q_bin, k_bin, None, scoring.chunk_size)[1]


def aggregate_importance(received: Tensor, aggregate: str) -> Tensor:
    """(n_layers, B, H, T) received attention -> (B, T) importance; reduces layers and heads."""
    per_row = received.transpose(0, 1).flatten(1, 2)  # (B, n_layers * H, T)
    if aggregate == "mean":  # Eq. 1
        return per_row.mean(dim=1)
    if aggregate == "max":
        return per_row.amax(dim=1)
    if aggregate == "min":
        return per_row.amin(dim=1)
    if aggregate == "geometric_mean":
        return per_row.clamp_min(torch.finfo(torch.float32).tiny).log().mean(dim=1).exp()
    raise ValueError(f"aggregate {aggregate!r} does not reduce attention scores")


class Sparsifier(nn.Module):
    """The EAS stage: the rule's kept tokens of each row, in time order, gathered.

    Parameter-free; owned by the encoder and called at one point of its block loop, so the
    `blocks` list (and every weight name) stays as in Whisper.
    """

    def forward(
        self,
        x: Tensor,
        received: list[Tensor],
        config: EASConfig,
        n_speech: list[int] | None,
        voiced: list[Tensor] | None = None,
    ) -> tuple[Tensor, Tensor, Tensor | None]:
        """x (B, T, D) and per-scoring-block (B, H, T) scores -> kept x (B, k, D), kept indices
        (B, k), and a key mask (B, k) when rows keep different counts (None when all keep k:
        rows that keep fewer are padded with their token 0, masked out downstream)."""
        batch, n_tokens, width = x.shape
        rule, scoring = config.keep_rule, config.scoring
        importance = None
        if scoring is not None:
            importance = aggregate_importance(torch.stack(received), scoring.aggregate)
        rows = []
        for row in range(batch):
            speech = audio_tokens(None if n_speech is None else n_speech[row], n_tokens)
            tokens = Tokens(
                importance=None if importance is None else importance[row],
                hidden=x[row],
                n_speech=speech,
                voiced=None if voiced is None else voiced[row],
            )
            rows.append(checked_keep(rule.keep(tokens), n_tokens, repr(config.rule)).to(x.device))
        k_max = max(len(r) for r in rows)
        kept = torch.zeros(batch, k_max, dtype=torch.long, device=x.device)
        mask = torch.zeros(batch, k_max, dtype=torch.bool, device=x.device)
        for row, indices in enumerate(rows):
            kept[row, : len(indices)], mask[row, : len(indices)] = indices, True
        gathered = x.gather(1, kept[..., None].expand(batch, k_max, width))
        return gathered, kept, (None if bool(mask.all()) else mask)

    def extra_repr(self) -> str:
        return "keeps what the EASConfig's rule says (passed per call)"
