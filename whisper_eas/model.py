"""The Whisper network: conv stem, encoder blocks with the EAS stage, decoder with a KV cache.

Whisper (Radford et al., "Robust Speech Recognition via Large-Scale Weak Supervision", 2022)
is a pre-norm encoder-decoder Transformer. Module names follow openai/whisper (`blocks`,
`attn`, `cross_attn`, `attn_ln`, `mlp_ln`, `ln_post`) so this file reads beside the original.
Data flow for one 30 s window, with EAS at `layer=i`:

    mel (B, n_mels, 3000) -> conv stem (B, 1500, D) -> blocks[0..i-1] -> sparsifier keeps
    k tokens (B, k, D) -> blocks[i..L-1] -> ln_post -> decoder cross-attends to k tokens.
"""

import math
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from functools import partial
from typing import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from . import onednn
from .attention import attention, check_backend
from .cpu import has_amx, is_intel
from .rules import Scoring
from .screening import ScreenedProjection
from .sparsify import EASConfig, Sparsifier, received_attention


@dataclass(frozen=True)
class ModelDims:
    """The ten integers that fix a Whisper's shapes (MLP width is always 4 * state)."""

    n_mels: int  # 80, or 128 for large-v3 and turbo
    n_audio_ctx: int  # 1500 audio tokens per 30 s window (after the stride-2 conv)
    n_audio_state: int
    n_audio_head: int
    n_audio_layer: int
    n_vocab: int  # 51864 English-only, 51865 multilingual, 51866 large-v3
    n_text_ctx: int  # 448 decoder positions
    n_text_state: int
    n_text_head: int
    n_text_layer: int


# A decoding step reads the self-attention cache in whole blocks of this many positions: a
# multiple of every vector loop's width (16 floats, unrolled up to 4 times), so that a row's
# sums never meet a loop's tail (`KVCache.place`).
VISIBLE_STEP = 64


# Set (`one_row_run`) while a run decodes one row at a time by its setting (transcribe's
# `batch_size=1`), never by the rows it happens to have: then a lone row may take the kernels
# fastest for one row (`linear`, `quantize.Int8Linear.lone_row`), whose bits are their own.
_one_row_run: ContextVar[bool] = ContextVar("one_row_run", default=False)


@contextmanager
def one_row_run(on: bool = True):
    """Within it, a lone row's products take the kernels fastest for one row (float32 on MKL
    on Intel's CPUs, `linear`; int8 in bf16, `quantize.Int8Linear.lone_row`), with bits of
    their own."""
    token = _one_row_run.set(on)
    try:
        yield
    finally:
        _one_row_run.reset(token)


def in_one_row_run() -> bool:
    """Whether a run of one row by setting is under way (`one_row_run`)."""
    return _one_row_run.get()


def linear(x: Tensor, weight: Tensor, bias: Tensor | None = None, packed: Tensor | None = None):
    """x @ weight.T + bias: on oneDNN's `packed` weight for CPU float32 inference, else F.linear.

    Batch invariance: on the packed weight oneDNN gives a row the same bits whatever the number
    of rows beside it; a lone row (a decoding step at batch 1) gets them too
    (`onednn.lone_row_product`), so a file decoded alone gets the numbers it gets in a batch
    (tests/test_transcribe.py). In a run of one row by setting (`one_row_run`) no batch is
    ever beside it, and on Intel's CPUs a lone row runs on MKL's `F.linear`: a oneDNN call
    costs a fixed 25-38 us at one or two rows on an AMX Xeon, MKL's 10-14 us (a tiny.en step
    makes 26 products; docs/tried.md, 2026-12-05). On AMD's, where a oneDNN call cost ~10 us
    (Zen 5) and MKL read weights slower than oneDNN, it stays on oneDNN."""
    if packed is None or x.dtype != torch.float32 or torch.is_grad_enabled():
        return F.linear(x, weight, bias)
    if x.ndim == 1:
        return linear(x[None], weight, bias, packed)[0]
    if x.numel() == x.shape[-1] and in_one_row_run() and is_intel():  # a lone row
        return F.linear(x, weight, bias)
    return onednn.product(x, packed, bias)


class DerivedWeights(nn.Module):
    """A module that keeps a kernel's copy of its weights (a packed layout) beside the weights
    themselves. `repack` runs whenever the weights change under it (`load_state_dict`, `.to()`)
    and makes the copy again (or drops it until its next use), so it never holds stale
    weights."""

    def repack(self) -> None:
        raise NotImplementedError

    def _load_from_state_dict(self, *args, **kwargs):
        super()._load_from_state_dict(*args, **kwargs)
        self.repack()

    def _apply(self, fn, *args, **kwargs):
        super()._apply(fn, *args, **kwargs)
        self.repack()
        return self


UNMADE = object()  # a derived copy not made yet


class OneDNNWeight(DerivedWeights):
    """A module whose `weight` also lives packed for oneDNN (None where that does not apply).
    The pack is made on first use: a module swapped out before it runs (`quantize_int8` swaps
    every Linear) never makes one (a process transcribing a clip with base int8 peaked 146 MB
    lower)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.repack()

    def repack(self) -> None:
        self._packed = UNMADE

    @property
    def packed(self) -> Tensor | None:
        if self._packed is UNMADE:
            self._packed = onednn.pack(self.weight)
        return self._packed

    def reset_parameters(self) -> None:
        # A module on the meta device (`checkpoints.empty_model`, `Linear.stack`) has no values
        # to draw, and there `normal_` and `uniform_` run through Python decompositions: the
        # first use imported torch._dynamo and sympy (a second of a short file's time, as in
        # `sinusoids`), and each call costs ~0.3 ms (120 a model).
        if not self.weight.is_meta:
            super().reset_parameters()


class Linear(OneDNNWeight, nn.Linear):
    def forward(self, x: Tensor) -> Tensor:
        return linear(x, self.weight, self.bias, self.packed)

    @classmethod
    def stack(cls, parts: Sequence["Linear"]) -> "Linear":
        """One Linear computing `parts` side by side (their outputs concatenated)."""
        weight = torch.cat([part.weight.detach() for part in parts])
        bias = torch.cat([
            part.weight.new_zeros(part.out_features) if part.bias is None else part.bias.detach()
            for part in parts
        ])  # fmt: skip
        stacked = cls(weight.shape[1], weight.shape[0], device="meta")
        stacked.weight = nn.Parameter(weight, requires_grad=False)
        stacked.bias = nn.Parameter(bias, requires_grad=False)
        stacked.repack()
        return stacked


class TokenEmbedding(OneDNNWeight, nn.Embedding):
    """The decoder's token embedding; its weight is also the output projection (tied)."""

    def repack(self) -> None:
        super().repack()
        self._screened: dict[tuple[int, str], ScreenedProjection] = {}

    def project(self, x: Tensor) -> Tensor:
        return linear(x, self.weight, None, self.packed)

    def screened(self, exact_from: int, kind: str) -> ScreenedProjection:
        """The projection screened in `kind` (`screening.KINDS`) for greedy steps (`screening`),
        made once."""
        if (exact_from, kind) not in self._screened:
            self._screened[exact_from, kind] = ScreenedProjection(self.weight, exact_from, kind)
        return self._screened[exact_from, kind]


class LayerNorm(nn.LayerNorm):
    """LayerNorm computed in float32 whatever the model dtype: fp16 variance overflows."""

    def forward(self, x: Tensor) -> Tensor:
        weight, bias = self.weight, self.bias
        if x.dtype == weight.dtype == torch.float32:  # no casts (13-19 a decoding step)
            return torch.layer_norm(x, self.normalized_shape, weight, bias, self.eps)
        weight, bias = weight.float(), bias.float()
        return F.layer_norm(x.float(), self.normalized_shape, weight, bias, self.eps).to(x.dtype)


def sinusoids(length: int, channels: int, max_timescale: float = 10_000.0) -> Tensor:
    """The encoder's fixed positional table, (length, channels): sines then cosines. Always
    computed on the CPU: on the meta device (`checkpoints.empty_model`) `arange` runs through
    Python decompositions whose first use imports torch._dynamo and sympy, a second of a short
    file's time."""
    assert channels % 2 == 0
    cpu = torch.device("cpu")
    inv_timescales = torch.exp(
        -math.log(max_timescale) / (channels // 2 - 1) * torch.arange(channels // 2, device=cpu)
    )
    angles = torch.arange(length, device=cpu)[:, None] * inv_timescales[None, :]
    return torch.cat([angles.sin(), angles.cos()], dim=1)


class MultiHeadAttention(nn.Module):
    def __init__(self, n_state: int, n_head: int):
        super().__init__()
        self.n_head = n_head
        self.query = Linear(n_state, n_state)
        self.key = Linear(n_state, n_state, bias=False)  # Whisper's key has no bias
        self.value = Linear(n_state, n_state)
        self.out = Linear(n_state, n_state)
        self.stacked: tuple = ((), None)  # (the packs it was made from, query/key/value stacked)
        # The dtype of the attention's own products (None: the queries'); int8's encoder on an
        # AMD CPU with AVX512-BF16 multiplies them in bfloat16 (`quantize.quantize_int8`).
        self.products_dtype: torch.dtype | None = None

    def split_heads(self, x: Tensor) -> Tensor:
        batch, length, width = x.shape
        return x.view(batch, length, self.n_head, width // self.n_head).transpose(
            1, 2
        )  # (B, H, T, Dh)

    def merge_heads(self, x: Tensor) -> Tensor:
        batch, _, length, _ = x.shape
        return x.transpose(1, 2).reshape(batch, length, -1)  # (B, T, D)

    def project_kv(self, source: Tensor) -> tuple[Tensor, Tensor]:
        return self.split_heads(self.key(source)), self.split_heads(self.value(source))

    def project_qkv(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Queries, keys and values of x (B, T, D), each (B, H, T, Dh). Where the three
        products run on packed CPU weights they run as one, on the weights stacked: a decoding
        step multiplies a few rows, so a product costs its weight's reading and a fixed
        overhead, and base's stacked product takes 160 us against 3 x 100 (int8: 83 against
        3 x 76; AVX2 EPYC, 2 threads)."""
        parts = (self.query, self.key, self.value)
        packs = tuple(getattr(part, "packed", None) for part in parts)
        made_from, stacked = self.stacked
        # Made again whenever a part's pack is new (weights loaded, moved or quantized), so
        # the stacked copy never holds other weights than the parts. (The ids of the packs it
        # holds cannot be reused while it holds them.)
        if tuple(map(id, packs)) != tuple(map(id, made_from)):
            if any(pack is None for pack in packs) or len({type(p) for p in parts}) > 1:
                stacked = None
            else:
                stacked = type(parts[0]).stack(parts)
            self.stacked = (packs, stacked)
        if stacked is None or torch.is_grad_enabled():  # gradients belong to the parts' weights
            return self.project_apart(x)
        batch, length, _ = x.shape
        return stacked(x).view(batch, length, 3, self.n_head, -1).permute(2, 0, 3, 1, 4).unbind()

    def project_apart(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """`project_qkv` as three products (where nothing is packed, and its reference)."""
        return tuple(self.split_heads(part(x)) for part in (self.query, self.key, self.value))

    def forward(
        self,
        x: Tensor,
        k: Tensor,
        v: Tensor,
        *,
        mask: Tensor | None,
        backend: str,
    ) -> Tensor:
        """Attend from x (B, T, D) to keys/values (B, H, S, Dh)."""
        return self.attend(self.split_heads(self.query(x)), k, v, mask=mask, backend=backend)

    def attend(self, q: Tensor, k: Tensor, v: Tensor, *, mask: Tensor | None, backend: str):
        """Attend from queries (B, H, T, Dh) to keys/values (B, H, S, Dh) -> (B, T, D)."""
        out = attention(q, k, v, mask=mask, backend=backend, products_dtype=self.products_dtype)
        return self.out(self.merge_heads(out))

    def forward_scored(self, x: Tensor, attend: Callable) -> tuple[Tensor, Tensor]:
        """Self-attention of x (B, T, D) by `attend(q, k, v) -> (output, received)`, which also
        returns the attention each token receives (B, H, T): the EAS scoring block's path."""
        k, v = self.project_kv(x)
        out, received = attend(self.split_heads(self.query(x)), k, v)
        return self.out(self.merge_heads(out)), received


class ResidualAttentionBlock(nn.Module):
    """Pre-norm block: self-attention, (decoder only) cross-attention, MLP."""

    def __init__(self, n_state: int, n_head: int, cross_attention: bool = False):
        super().__init__()
        self.attn = MultiHeadAttention(n_state, n_head)
        self.attn_ln = LayerNorm(n_state)
        self.cross_attn = MultiHeadAttention(n_state, n_head) if cross_attention else None
        self.cross_attn_ln = LayerNorm(n_state) if cross_attention else None
        self.mlp = nn.Sequential(
            Linear(n_state, 4 * n_state), nn.GELU(), Linear(4 * n_state, n_state)
        )
        self.mlp_ln = LayerNorm(n_state)

    def forward(
        self,
        x: Tensor,
        *,
        backend: str,
        cache: "KVCache | None" = None,
        index: int = 0,
        cross_scores: list[Tensor] | None = None,
        cross_backend: str | None = None,
    ) -> Tensor:
        """Encoder (no cache): self-attention over x. Decoder: this step's keys/values go into
        the cache at each row's positions, then self- and cross-attention read it (the latter
        by `cross_backend`, if given)."""
        h = self.attn_ln(x)
        if cache is None:
            k, v = self.attn.project_kv(h)
            return self.mlp_residual(x + self.attn(h, k, v, mask=None, backend=backend))
        q, k, v = self.attn.project_qkv(h)
        k, v = cache.write(index, k, v)
        x = x + self.attn.attend(q, k, v, mask=cache.mask, backend=backend)
        cross_backend = cross_backend or backend
        x = x + self.cross_attend(self.cross_attn_ln(x), cache, index, cross_backend, cross_scores)
        return self.mlp_residual(x)

    def cross_attend(
        self, h: Tensor, cache: "KVCache", index: int, backend: str, cross_scores: list | None
    ) -> Tensor:
        """Cross-attention of h (B, T, D) to the cached audio K/V; rows that keep different
        numbers of audio tokens attend apart, each group to its own tokens (no padding)."""
        q = self.cross_attn.split_heads(self.cross_attn.query(h))  # (B, H, T, Dh)
        beams, (batch, heads, length, width) = cache.beams, q.shape
        if beams > 1:  # a row's beams share its audio K/V: they attend as that row's queries
            q = q.view(batch // beams, beams, heads, length, width).transpose(1, 2)
            q = q.reshape(batch // beams, heads, beams * length, width)  # (B / beams, H, bT, Dh)
        cross_k = cache.cross_kv[index][0]  # the layer's keys: their dtype, and word timing's
        q = q.to(cross_k.dtype)  # the cache's dtype (TextDecoder.cross_dtype)
        if cross_scores is not None:  # word timing reads the attention logits themselves
            scores = (q @ cross_k.transpose(-1, -2)).float() / math.sqrt(q.shape[-1])
            cross_scores.append(scores)  # (B, H, T, S)
        if len(cache.cross_groups) == 1:  # every row keeps the same count (always without EAS)
            k, v = cache.cross_groups[0][1][index]
            out = attention(q, k, v, backend=backend)
        else:
            out = torch.empty_like(q)
            for rows, kv in cache.cross_groups:
                out[rows] = attention(q[rows], *kv[index], backend=backend)
        if beams > 1:
            out = out.view(batch // beams, heads, beams, length, width).transpose(1, 2)
            out = out.reshape(batch, heads, length, width)
        return self.cross_attn.out(self.cross_attn.merge_heads(out.to(h.dtype)))

    def mlp_residual(self, x: Tensor) -> Tensor:
        expand, gelu, contract = self.mlp  # called one by one: nn.Sequential's call costs more
        return x + contract(gelu(expand(self.mlp_ln(x))))

    def forward_scored(self, x: Tensor, scoring: Scoring) -> tuple[Tensor, Tensor]:
        """The encoder block EAS scores: its output and the attention each token receives."""
        scorer = partial(received_attention, scoring=scoring)
        attended, received = self.attn.forward_scored(self.attn_ln(x), scorer)
        return self.mlp_residual(x + attended), received


@dataclass
class EncoderOutput:
    features: Tensor  # (B, k, D): k = n_audio_ctx without EAS
    kept: Tensor | None  # (B, k) indices into the 1500 positions, increasing; None without EAS
    mask: Tensor | None = None  # (B, k) valid tokens, when rows keep different counts

    def kept_counts(self) -> list[int]:
        batch, k = self.features.shape[:2]
        return self.mask.sum(dim=1).tolist() if self.mask is not None else [k] * batch

    @staticmethod
    def cat(outputs: list["EncoderOutput"]) -> "EncoderOutput":
        """Rows of several outputs as one batch. Rows that keep fewer tokens than the longest
        are padded (zero features, index 0) and masked, as the encoder pads them."""
        if all(o.kept is None for o in outputs):
            return EncoderOutput(torch.cat([o.features for o in outputs]), None)
        rows = [
            (o.features[row], o.kept[row] if o.kept is not None else None, count)
            for o in outputs
            for row, count in enumerate(o.kept_counts())
        ]
        k = max(count for _, _, count in rows)
        first = outputs[0].features
        features = first.new_zeros(len(rows), k, first.shape[-1])
        kept = torch.zeros(len(rows), k, dtype=torch.long, device=first.device)
        mask = torch.zeros(len(rows), k, dtype=torch.bool, device=first.device)
        for row, (feature, indices, count) in enumerate(rows):
            features[row, :count] = feature[:count]
            kept[row, :count] = (
                torch.arange(count, device=first.device) if indices is None else indices[:count]
            )
            mask[row, :count] = True
        return EncoderOutput(features, kept, None if bool(mask.all()) else mask)


class AudioEncoder(nn.Module):
    def __init__(self, dims: ModelDims):
        super().__init__()
        self.dims = dims
        self.conv1 = nn.Conv1d(dims.n_mels, dims.n_audio_state, kernel_size=3, padding=1)
        self.conv2 = nn.Conv1d(
            dims.n_audio_state, dims.n_audio_state, kernel_size=3, stride=2, padding=1
        )
        self.register_buffer(
            "positional_embedding", sinusoids(dims.n_audio_ctx, dims.n_audio_state)
        )
        self.blocks = nn.ModuleList(
            ResidualAttentionBlock(dims.n_audio_state, dims.n_audio_head)
            for _ in range(dims.n_audio_layer)
        )
        self.sparsifier = Sparsifier()
        self.ln_post = LayerNorm(dims.n_audio_state)
        # The dtype the features leave in (None: the encoder's own). int8 on a CPU with AMX runs
        # the encoder in bfloat16 and the decoder in int8 (`quantize.quantize_int8`).
        self.output_dtype: torch.dtype | None = None

    def layer_backends(self, backends: str | Sequence[str]) -> list[str]:
        per_block = [backends] * len(self.blocks) if isinstance(backends, str) else list(backends)
        if len(per_block) != len(self.blocks):
            raise ValueError(
                f"got {len(per_block)} attention backends for {len(self.blocks)} encoder blocks"
            )
        return [check_backend(b) for b in per_block]

    def stem(self, mel: Tensor) -> Tensor:
        """The two convolutions and the positions: (B, n_mels, 3000) -> (B, 1500, D)."""
        x = F.gelu(self.conv2(F.gelu(self.conv1(mel))))
        return x.transpose(1, 2) + self.positional_embedding

    def forward(
        self,
        mel: Tensor,
        *,
        eas: EASConfig | None = None,
        n_speech: list[int] | None = None,
        voiced: list[Tensor] | None = None,
        backends: str | Sequence[str] = "sdpa",
    ) -> EncoderOutput:
        """mel (B, n_mels, 2 * n_audio_ctx) -> features (B, k, D). With `eas`, tokens are
        dropped after block `eas.layer`; `n_speech` (per row: audio tokens holding speech, the
        rest is padding) and `voiced` (per row: (n_audio_ctx,) bool, the tokens a VAD heard as
        speech, when the rule asks) are what the keep rule sees of each row."""
        expected = (self.dims.n_mels, 2 * self.dims.n_audio_ctx)
        if mel.ndim != 3 or tuple(mel.shape[1:]) != expected:
            raise ValueError(
                f"encoder expects mel of shape (batch, {expected[0]}, {expected[1]}), "
                f"got {tuple(mel.shape)}"
            )
        per_block = self.layer_backends(backends)
        x = self.stem(mel.to(self.conv1.weight.dtype))
        kept, mask, received = None, None, []
        if eas is not None:
            eas.check_layers(len(self.blocks))
            if not eas.drops_anything(x.shape[1], n_speech, voiced):  # s = 0: the baseline exactly
                kept, eas = torch.arange(x.shape[1], device=x.device).expand(x.shape[0], -1), None
        scored = eas.scoring_blocks() if eas is not None else range(0)
        for index, block in enumerate(self.blocks):
            if index in scored:
                x, scores = block.forward_scored(x, eas.scoring)
                received.append(scores)
            else:
                x = block(x, backend=per_block[index])
            if eas is not None and index == eas.layer - 1:
                x, kept, mask = self.sparsifier(x, received, eas, n_speech, voiced)  # EAS stage
                if mask is not None:
                    x = self.rows_apart(x, mask, range(index + 1, len(self.blocks)), per_block)
                    break
        features = self.ln_post(x)
        return EncoderOutput(features.to(self.output_dtype or features.dtype), kept, mask)

    def rows_apart(self, x: Tensor, mask: Tensor, blocks: range, backends: list[str]) -> Tensor:
        """Run `blocks` on each row's own kept tokens, when rows keep different counts. Batched,
        every row would run at the longest row's length under a key mask; and each row already
        holds hundreds of tokens, so its products stay efficient alone. Padding stays zero."""
        out = torch.zeros_like(x)
        for row, count in enumerate(mask.sum(dim=1).tolist()):
            h = x[row : row + 1, :count]
            for index in blocks:
                h = self.blocks[index](h, backend=backends[index])
            out[row, :count] = h[0]
        return out


class KVCache:
    """Decoder state for one batch of rows (gpt-fast's static cache): cross-attention K/V per
    layer, computed once per window from the (possibly sparsified) encoder output, and
    self-attention K/V for the whole text context, each token written at its row's own
    position. Rows of different prompt lengths need no padding: each has its own position.

    Batch invariance: a row's numbers must not depend on its neighbours, so self-attention
    reads the cache under a per-row mask, all n_text_ctx positions for prompts and whole
    blocks of positions for one query (`place`: the bits a row gets do not depend on how
    many blocks its neighbours need), and rows that keep different numbers of audio tokens
    (EAS) attend to their own cross K/V, one group of equal counts at a time."""

    def __init__(
        self,
        cross_kv: list[tuple[Tensor, Tensor]],
        kept_counts: list[int],
        n_text_ctx: int,
        self_kv: tuple[Tensor, Tensor] | None = None,
        positions: Tensor | None = None,
        dtype: torch.dtype | None = None,
    ):
        """`dtype`: the self-attention cache's (the model's; default: the cross K/V's)."""
        self.cross_kv = cross_kv
        self.kept_counts = kept_counts
        batch, n_head, _, head_dim = cross_kv[0][0].shape
        like = cross_kv[0][0]
        if self_kv is None:
            shape = (len(cross_kv), batch, n_head, n_text_ctx, head_dim)
            zeros = lambda: like.new_zeros(shape, dtype=dtype or like.dtype)  # noqa: E731
            self_kv = (zeros(), zeros())
        self.self_k, self.self_v = self_kv  # (layers, B, H, n_text_ctx, Dh)
        self.positions = (  # (B,): where each row's next token goes
            positions if positions is not None else torch.zeros(batch, dtype=torch.long,
                                                                device=like.device)
        )  # fmt: skip
        self.cross_groups = self.groups_of(cross_kv, kept_counts)
        self.beams = 1  # decoding rows per cross K/V row (`with_beams`)
        self.where: Tensor | None = None  # (B, T): positions of the tokens being decoded
        self.mask: Tensor | None = None  # (B, 1, T, visible): the keys each of them sees
        self.slots: Tensor | None = None  # (B * H * T,): where their K/V go (`place`)
        self.visible = n_text_ctx  # how many cache positions this call reads (`place`)
        # The furthest row's end after the next call, where the host keeps count of it
        # (`cuda_step`); None: `place` reads it back from the device.
        self.known_end: int | None = None

    @staticmethod
    def groups_of(cross_kv: list[tuple[Tensor, Tensor]], counts: list[int]) -> list:
        """[(rows, per-layer (K, V) of those rows' kept tokens)] for each distinct kept count:
        one group of all rows (views) when the counts agree; else cut out once per window, so
        that a decoding step reads each row's own tokens without copying them."""
        if len(set(counts)) <= 1:
            count = counts[0] if counts else 0
            return [(slice(None), [(k[:, :, :count], v[:, :, :count]) for k, v in cross_kv])]
        groups: dict[int, list[int]] = {}
        for row, count in enumerate(counts):
            groups.setdefault(count, []).append(row)
        device = cross_kv[0][0].device
        # The rows as an index on the device: a step that indexes with a list copies it there
        # first, which a CUDA graph cannot record (`cuda_step`).
        return [
            (index, [(k[index, :, :count].contiguous(), v[index, :, :count].contiguous())
                     for k, v in cross_kv])
            for count, index in ((c, torch.tensor(r, device=device)) for c, r in groups.items())
        ]  # fmt: skip

    def select(self, rows: list[int]) -> "KVCache":
        """A cache of some rows: their cross K/V, and self K/V of their own (this cache itself
        when `rows` are all of its rows)."""
        if rows == list(range(len(self.kept_counts))):
            return self
        index = torch.tensor(rows, device=self.positions.device)
        cross_kv = [(k[index], v[index]) for k, v in self.cross_kv]
        counts = [self.kept_counts[r] for r in rows]
        return KVCache(cross_kv, counts, self.self_k.shape[3], dtype=self.self_k.dtype)

    def keep(self, rows: list[int]) -> "KVCache":
        """A cache of some rows with all they decoded so far, made in place: row i of the new
        cache is row rows[i] of this one, which must be i itself or a row past the new batch
        (`room_for`). `generate` drops the rows that finished, so that a step reads only the
        K/V of the rows still decoding, by moving the few last rows into the places they
        leave: copying every kept row into new tensors made base float32 8 % slower on long
        recordings. The cross K/V are swapped, not overwritten, so that the tensors this cache
        was made with still hold every row's (in the order `moved_rows` gives), for the word
        aligner to read again. This cache must not be used after it."""
        n_kept = len(rows)
        moves = [(place, row) for place, row in enumerate(rows) if row != place]
        if any(row < n_kept for _, row in moves):
            raise ValueError(f"keep moves rows from past the new batch only, got {rows}")
        end = int(self.positions.max())  # no row has written past this position
        for place, row in moves:
            for k, v in self.cross_kv:
                for tensor in (k, v):
                    finished = tensor[place].clone()
                    tensor[place].copy_(tensor[row])
                    tensor[row].copy_(finished)
            for cache in (self.self_k, self.self_v):
                cache[:, place, :, :end].copy_(cache[:, row, :, :end])
            self.positions[place] = self.positions[row]
        cross_kv = [(k[:n_kept], v[:n_kept]) for k, v in self.cross_kv]
        self_kv = (self.self_k[:, :n_kept], self.self_v[:, :n_kept])
        counts = [self.kept_counts[row] for row in rows]
        return KVCache(cross_kv, counts, self.self_k.shape[3], self_kv, self.positions[:n_kept])

    @staticmethod
    def moved_rows(rows_at: list[int], order: list[int]) -> list[int]:
        """Which row each position of the cross K/V tensors holds after `keep(order)` swapped
        them, given which it held before (`rows_at`)."""
        rows_at = list(rows_at)
        for place, row in enumerate(order):
            if row != place:
                rows_at[place], rows_at[row] = rows_at[row], rows_at[place]
        return rows_at

    @staticmethod
    def room_for(still: list[int]) -> list[int]:
        """The order `keep` takes for the rows `still` (ascending) of a batch: each kept row
        stays where it is, except those past the new batch, which fill the places of the rows
        that left, in order."""
        n_kept, kept = len(still), set(still)
        movers = iter(row for row in still if row >= n_kept)
        return [place if place in kept else next(movers) for place in range(n_kept)]

    def with_beams(self, width: int) -> "KVCache":
        """A cache of `width` rows per row (row after row): beam search's beams, or best_of's
        draws. Each gets a copy of its row's self-attention K/V (the prompt so far); all of
        them read the row's cross-attention K/V, shared, not copied (`beams`)."""
        index = torch.arange(len(self.kept_counts), device=self.positions.device)
        index = index.repeat_interleave(width)
        self_kv = (self.self_k[:, index], self.self_v[:, index])
        cache = KVCache(self.cross_kv, self.kept_counts, self.self_k.shape[3], self_kv,
                        self.positions[index])  # fmt: skip
        cache.beams = width
        return cache

    def reorder(self, sources: list[int], since: int = 0) -> None:
        """Row i takes what row sources[i] decoded so far (beam search keeps its best beams;
        a row's beams share its audio, so the cross K/V stay). Only positions from `since`
        up are copied: a row's beams share their prompt, so what lies before it is the same
        in each (copying the whole context every step cost more than the step's products)."""
        if sources == list(range(len(sources))):
            return
        index = torch.tensor(sources, device=self.positions.device)
        end = int(self.positions.max())
        for cache in (self.self_k, self.self_v):
            cache[:, :, :, since:end] = cache[:, index, :, since:end]
        self.positions = self.positions[index]

    def take(self, other: "KVCache", rows: list[int]) -> None:
        """Copy what `other` (a `select` of `rows`) holds into those rows of this cache."""
        if other is self:
            return
        length = int(other.positions.max())
        self.self_k[:, rows, :, :length] = other.self_k[:, :, :, :length]
        self.self_v[:, rows, :, :length] = other.self_v[:, :, :, :length]
        self.positions[rows] = other.positions

    def place(self, n_queries: int) -> Tensor:
        """Set where each row's next n_queries tokens go and what they see (once per decoder
        call, shared by its layers); returns their positions (B, T).

        A step of one query per row reads the cache only up to the next multiple of
        `VISIBLE_STEP` past the furthest row, not all n_text_ctx positions (at 8 rows the whole
        cache was a sixth of a float32 step's reads). That length depends on the neighbours,
        but a row's numbers do not: its keys past its own position weigh exactly 0, and with
        one query the products and the softmax sum over the positions in order, so trailing
        zeros in whole vectors change no bit (tested against the whole cache). Several
        queries (prompts) go through a blocked product whose sums do change with the length,
        so they read the whole cache."""
        device = self.positions.device
        self.where = self.positions[:, None] + torch.arange(n_queries, device=device)
        n_ctx = self.self_k.shape[3]
        end = self.known_end if self.known_end is not None else int(self.where.max()) + 1
        if end > n_ctx:
            raise ValueError(f"decoder context overflow: {end} tokens > {n_ctx} positions")
        self.visible = n_ctx if n_queries > 1 else self.visible_for(end)
        keys = torch.arange(self.visible, device=device)
        self.mask = (keys[None, None, :] <= self.where[:, :, None])[:, None]  # (B, 1, T, seen)
        # Where each (row, head, token) vector goes in a layer's cache seen as rows of Dh: one
        # index_copy_ a write (advanced indexing took 3x as long, a step's largest small op).
        batch, n_head = self.self_k.shape[1:3]
        heads = torch.arange(batch * n_head, device=device).view(batch, n_head, 1) * n_ctx
        self.slots = (heads + self.where[:, None, :]).flatten()  # (B * H * T,)
        return self.where

    def visible_for(self, end: int) -> int:
        """How many positions a step of one query per row reads when the furthest row's
        token goes to position end - 1: whole blocks of VISIBLE_STEP (`place`)."""
        return min(self.self_k.shape[3], -(-end // VISIBLE_STEP) * VISIBLE_STEP)

    def write(self, layer: int, k: Tensor, v: Tensor) -> tuple[Tensor, Tensor]:
        """Store k, v (B, H, T, Dh) at the placed positions; return the layer's cache up to the
        positions this call sees (`place`)."""
        width = k.shape[-1]
        for cache, new in ((self.self_k[layer], k), (self.self_v[layer], v)):
            cache.view(-1, width).index_copy_(0, self.slots, new.reshape(-1, width))
        return self.self_k[layer][:, :, : self.visible], self.self_v[layer][:, :, : self.visible]

    def advance(self, n_tokens: int) -> None:
        self.positions += n_tokens  # in place: a row view advances its batch's row too


class TextDecoder(nn.Module):
    def __init__(self, dims: ModelDims):
        super().__init__()
        self.token_embedding = TokenEmbedding(dims.n_vocab, dims.n_text_state)
        self.positional_embedding = nn.Parameter(torch.zeros(dims.n_text_ctx, dims.n_text_state))
        self.blocks = nn.ModuleList(
            ResidualAttentionBlock(dims.n_text_state, dims.n_text_head, cross_attention=True)
            for _ in range(dims.n_text_layer)
        )
        self.ln = LayerNorm(dims.n_text_state)
        # The dtype the cross-attention K/V are kept in (None: the model's). A decoding step of
        # B rows reads B windows' K/V, the largest read of a step beyond a few rows; bfloat16
        # halves it (int8 on a CPU with bf16 instructions, `quantize.quantize_int8`).
        self.cross_dtype: torch.dtype | None = None
        # On a CUDA device, `decoding.generate` replays each step as a CUDA graph (the same
        # logits, launched at once; `cuda_step`). False: every step runs eagerly.
        self.cuda_graphs = True
        # On a CPU with bfloat16 instructions, a greedy step screens its output projection in
        # bf16 and computes in float32 the columns that may win (`screening`): float32's
        # tokens, reading half the bytes. False: the float32 product over every column.
        self.screened_logits = True
        # On a CPU with AMX, cross-attention over bfloat16 K/V (int8's, above) runs PyTorch's
        # fused kernel whatever the backend: it accumulates in float32, keeps a row's numbers
        # its own there (tested), and ran 2.5x faster than eager's two bf16 products at one
        # row (AMX Xeon: a step 1.1x faster, 12 long recordings 1.02-1.13x). Without AMX its
        # bf16 products crawl (AMD EPYC with AVX512-BF16: tiny.en int8, a step of 8 rows 24
        # against eager's 8.6 ms; docs/int8.md). None: where the CPU has AMX; True / False:
        # always / never.
        self.fused_bf16_cross: bool | None = None

    def new_cache(
        self,
        audio: "EncoderOutput | Tensor",
        n_text_ctx: int | None = None,
        cross_kv: list[tuple[Tensor, Tensor]] | None = None,
    ) -> KVCache:
        """A cache for decoding against `audio` (an EncoderOutput, or features (B, k, D));
        `cross_kv`: its K/V, already projected by an earlier decode (`decoding.decode`)."""
        features, counts = (
            (audio.features, audio.kept_counts())
            if isinstance(audio, EncoderOutput)
            else (audio, [audio.shape[1]] * audio.shape[0])
        )
        # Contiguous: a decoding step reads all of them, and attention reads a (B, H, S, Dh)
        # view of (B, S, D) a third slower than a contiguous copy made once here.
        dtype = self.cross_dtype or features.dtype
        cross_kv = cross_kv or [
            tuple(t.to(dtype).contiguous() for t in block.cross_attn.project_kv(features))
            for block in self.blocks
        ]
        n_text_ctx = n_text_ctx or self.positional_embedding.shape[0]
        return KVCache(cross_kv, counts, n_text_ctx, dtype=features.dtype)

    def forward(
        self,
        tokens: Tensor,
        cache: KVCache,
        backend: str = "eager",
        last_only: bool = False,
        at: Tensor | None = None,
        cross_scores: list[Tensor] | None = None,
        project: bool = True,
    ) -> Tensor:
        """tokens (B, T), each row's next T tokens -> float32 logits (B, T, n_vocab); only
        the last position's (B, 1, n_vocab) with `last_only`, or those at the columns `at`
        (B, n) -> (B, n, n_vocab): the output projection is the largest product of a step.
        `cross_scores`, a list, receives each block's cross-attention logits (B, H, T, S).
        `project=False`: the final LayerNorm's output (B, T, D) instead, which the caller
        projects itself (`screening`)."""
        positions = cache.place(tokens.shape[1])  # raises if past the text context
        x = self.token_embedding(tokens) + self.positional_embedding[positions]
        bf16_cross = cache.cross_kv[0][0].dtype == torch.bfloat16 and tokens.device.type == "cpu"
        fused = has_amx() if self.fused_bf16_cross is None else self.fused_bf16_cross
        cross_backend = "sdpa" if bf16_cross and fused else backend
        for index, block in enumerate(self.blocks):
            x = block(
                x, backend=backend, cache=cache, index=index, cross_scores=cross_scores,
                cross_backend=cross_backend,
            )  # fmt: skip
        cache.advance(tokens.shape[1])
        if last_only:
            x = x[:, -1:]
        elif at is not None:
            x = x.gather(1, at[..., None].expand(-1, -1, x.shape[-1]))
        if not project:
            return self.ln(x)
        return self.token_embedding.project(self.ln(x)).float()


class Whisper(nn.Module):
    """The network: encoder and decoder. The tokenizer and generation settings that decoding
    needs travel beside it, in `decoding.WhisperModel` (what `load_model` returns)."""

    def __init__(self, dims: ModelDims):
        super().__init__()
        self.dims = dims
        self.encoder = AudioEncoder(dims)
        self.decoder = TextDecoder(dims)
