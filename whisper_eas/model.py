"""The Whisper network: conv stem, encoder blocks with the EAS stage, decoder with a KV cache.

Whisper (Radford et al., "Robust Speech Recognition via Large-Scale Weak Supervision", 2022)
is a pre-norm encoder-decoder Transformer. Module names follow openai/whisper (`blocks`,
`attn`, `cross_attn`, `attn_ln`, `mlp_ln`, `ln_post`) so this file reads beside the original.
Data flow for one 30 s window, with EAS at `layer=i`:

    mel (B, n_mels, 3000) -> conv stem (B, 1500, D) -> blocks[0..i-1] -> sparsifier keeps
    k tokens (B, k, D) -> blocks[i..L-1] -> ln_post -> decoder cross-attends to k tokens.
"""

import math
from dataclasses import dataclass
from functools import lru_cache, partial
from typing import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .attention import attention, check_backend
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


# CPU float32 linear layers run on oneDNN by default (set `use_onednn_linear = False` to use
# torch's default BLAS). Measured on this project's CPU (AMD EPYC, AVX-512, 2 threads): the
# encoder's 1500-row products run at ~200 vs ~150 GFLOP/s on MKL, and a decoding step's
# one-row products, bound by reading the weights, are faster too (512 x 512: 63 vs 106 us).
# Numerics: fp32 throughout, only the summation order differs from F.linear (~1e-6 relative).
# The op is the one torch.compile's CPU backend emits; it is private and has no backward, so
# it serves inference only, and is checked once against F.linear before first use.
use_onednn_linear = True


@lru_cache(maxsize=None)
def onednn_linear_works() -> bool:
    """Whether torch.ops.mkldnn._linear_pointwise exists here with the signature we call."""
    try:
        x, weight, bias = torch.randn(3, 8), torch.randn(4, 8), torch.randn(4)
        with torch.inference_mode():
            got = torch.ops.mkldnn._linear_pointwise(x, weight, bias, "none", [], "")
        return torch.allclose(got, F.linear(x, weight, bias), atol=1e-5)
    except (AttributeError, RuntimeError, TypeError):
        return False


def linear(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """x @ weight.T + bias, on oneDNN for CPU float32 inference, else `F.linear`."""
    if (
        use_onednn_linear
        and x.device.type == "cpu"
        and x.dtype == torch.float32
        and not torch.is_grad_enabled()
        and onednn_linear_works()
    ):
        return torch.ops.mkldnn._linear_pointwise(x, weight, bias, "none", [], "")
    return F.linear(x, weight, bias)


class Linear(nn.Linear):
    def forward(self, x: Tensor) -> Tensor:
        return linear(x, self.weight, self.bias)


class TokenEmbedding(nn.Embedding):
    """The decoder's token embedding; its weight is also the output projection (tied)."""

    def project(self, x: Tensor) -> Tensor:
        return linear(x, self.weight)


class LayerNorm(nn.LayerNorm):
    """LayerNorm computed in float32 whatever the model dtype: fp16 variance overflows."""

    def forward(self, x: Tensor) -> Tensor:
        weight, bias = self.weight.float(), self.bias.float()
        return F.layer_norm(x.float(), self.normalized_shape, weight, bias, self.eps).to(x.dtype)


def sinusoids(length: int, channels: int, max_timescale: float = 10_000.0) -> Tensor:
    """The encoder's fixed positional table, (length, channels): sines then cosines."""
    assert channels % 2 == 0
    inv_timescales = torch.exp(
        -math.log(max_timescale) / (channels // 2 - 1) * torch.arange(channels // 2)
    )
    angles = torch.arange(length)[:, None] * inv_timescales[None, :]
    return torch.cat([angles.sin(), angles.cos()], dim=1)


class MultiHeadAttention(nn.Module):
    def __init__(self, n_state: int, n_head: int):
        super().__init__()
        self.n_head = n_head
        self.query = Linear(n_state, n_state)
        self.key = Linear(n_state, n_state, bias=False)  # Whisper's key has no bias
        self.value = Linear(n_state, n_state)
        self.out = Linear(n_state, n_state)

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

    def forward(
        self,
        x: Tensor,
        k: Tensor,
        v: Tensor,
        *,
        causal: bool,
        key_mask: Tensor | None,
        backend: str,
    ) -> Tensor:
        """Attend from x (B, T, D) to keys/values (B, H, S, Dh)."""
        q = self.split_heads(self.query(x))
        out = attention(q, k, v, causal=causal, key_mask=key_mask, backend=backend)
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
    ) -> Tensor:
        """Encoder (no cache): self-attention over x. Decoder: this step's keys/values go into
        the cache, then self- and cross-attention read it (under its masks)."""
        h = self.attn_ln(x)
        k, v = self.attn.project_kv(h)
        if cache is None:
            x = x + self.attn(h, k, v, causal=False, key_mask=None, backend=backend)
        else:
            k, v = cache.append(index, k, v)
            x = x + self.attn(
                h, k, v, causal=True, key_mask=cache.self_mask(k.shape[-2]), backend=backend
            )
            cross_k, cross_v = cache.cross_kv[index]
            h = self.cross_attn_ln(x)
            if cross_scores is not None:  # word timing reads the attention logits themselves
                q = self.cross_attn.split_heads(self.cross_attn.query(h))
                scores = (q @ cross_k.transpose(-1, -2)).float() / math.sqrt(q.shape[-1])
                cross_scores.append(scores)  # (B, H, T, S)
            mask = cache.cross_mask
            x = x + self.cross_attn(
                h, cross_k, cross_v, causal=False, key_mask=mask, backend=backend
            )
        return x + self.mlp(self.mlp_ln(x))

    def forward_scored(self, x: Tensor, eas: EASConfig) -> tuple[Tensor, Tensor]:
        """The encoder block EAS scores: its output and the attention each token receives."""
        scorer = partial(received_attention, config=eas)
        attended, received = self.attn.forward_scored(self.attn_ln(x), scorer)
        x = x + attended
        return x + self.mlp(self.mlp_ln(x)), received


@dataclass
class EncoderOutput:
    features: Tensor  # (B, k, D): k = n_audio_ctx without EAS
    kept: Tensor | None  # (B, k) indices into the 1500 positions, increasing; None without EAS
    mask: Tensor | None = None  # (B, k) valid tokens, when rows keep different counts

    def kept_counts(self) -> list[int]:
        batch, k = self.features.shape[:2]
        return self.mask.sum(dim=1).tolist() if self.mask is not None else [k] * batch


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
        backends: str | Sequence[str] = "sdpa",
    ) -> EncoderOutput:
        """mel (B, n_mels, 2 * n_audio_ctx) -> features (B, k, D). With `eas`, tokens are
        dropped after block `eas.layer`; `n_speech` (per row: audio tokens holding speech, the
        rest is padding) feeds the `speech` keep budget."""
        expected = (self.dims.n_mels, 2 * self.dims.n_audio_ctx)
        if mel.ndim != 3 or tuple(mel.shape[1:]) != expected:
            raise ValueError(
                f"encoder expects mel of shape (batch, {expected[0]}, {expected[1]}), "
                f"got {tuple(mel.shape)}"
            )
        per_block = self.layer_backends(backends)
        x = self.stem(mel)
        kept, mask, received = None, None, []
        if eas is not None:
            eas.check_layers(len(self.blocks))
            if not eas.drops_anything(x.shape[1], n_speech):  # s = 0 is the baseline exactly
                kept, eas = torch.arange(x.shape[1], device=x.device).expand(x.shape[0], -1), None
        scored = eas.scoring_blocks() if eas is not None else range(0)
        for index, block in enumerate(self.blocks):
            if index in scored:
                x, scores = block.forward_scored(x, eas)
                received.append(scores)
            else:
                x = block(x, backend=per_block[index])
            if eas is not None and index == eas.layer - 1:
                x, kept, mask = self.sparsifier(x, received, eas, n_speech)  # the EAS stage
                if mask is not None:
                    x = self.rows_apart(x, mask, range(index + 1, len(self.blocks)), per_block)
                    break
        return EncoderOutput(self.ln_post(x), kept, mask)

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
    """Decoder state for one batch: cross-attention K/V per layer, computed once from the
    (possibly sparsified) encoder output, and self-attention K/V preallocated for the whole
    text context and filled in place as tokens arrive (no per-step concatenation).

    Rows may start with prompts of different lengths: they are left-padded, `valid` marks the
    real positions (the padding receives no attention) and `offsets` shifts each row's
    positional embedding so that its first real token sits at position 0, as if alone."""

    def __init__(
        self, cross_kv: list[tuple[Tensor, Tensor]], cross_mask: Tensor | None, n_text_ctx: int
    ):
        self.cross_kv = cross_kv
        self.cross_mask = cross_mask
        batch, n_head, _, head_dim = cross_kv[0][0].shape
        shape = (len(cross_kv), batch, n_head, n_text_ctx, head_dim)
        like = cross_kv[0][0]
        self.self_k = torch.zeros(shape, dtype=like.dtype, device=like.device)
        self.self_v = torch.zeros(shape, dtype=like.dtype, device=like.device)
        self.valid = torch.ones(batch, n_text_ctx, dtype=torch.bool, device=like.device)
        self.offsets = torch.zeros(batch, 1, dtype=torch.long, device=like.device)
        self.padded = False  # any row left-padded: self-attention needs the mask
        self.length = 0  # positions already in the cache

    def pad_rows(self, n_padding: list[int]) -> None:
        """Mark the first n_padding[row] positions of each row as padding (before the prompt)."""
        for row, n in enumerate(n_padding):
            self.valid[row, :n] = False
        self.offsets = torch.tensor(n_padding, device=self.valid.device)[:, None]
        self.padded = any(n > 0 for n in n_padding)

    def self_mask(self, n_keys: int) -> Tensor | None:
        return self.valid[:, :n_keys] if self.padded else None

    def append(self, layer: int, k: Tensor, v: Tensor) -> tuple[Tensor, Tensor]:
        end = self.length + k.shape[-2]
        self.self_k[layer, :, :, self.length : end] = k
        self.self_v[layer, :, :, self.length : end] = v
        return self.self_k[layer, :, :, :end], self.self_v[layer, :, :, :end]


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

    def new_cache(self, audio: "EncoderOutput | Tensor") -> KVCache:
        """A cache for decoding against `audio` (an EncoderOutput, or features (B, k, D))."""
        features, mask = (
            (audio.features, audio.mask) if isinstance(audio, EncoderOutput) else (audio, None)
        )
        # Contiguous: a decoding step reads all of them, and SDPA reads a (B, H, S, Dh) view of
        # (B, S, D) a third slower than a contiguous copy made once here.
        cross_kv = [
            tuple(t.contiguous() for t in block.cross_attn.project_kv(features))
            for block in self.blocks
        ]
        return KVCache(cross_kv, mask, self.positional_embedding.shape[0])

    def forward(
        self,
        tokens: Tensor,
        cache: KVCache,
        backend: str = "sdpa",
        last_only: bool = False,
        at: Tensor | None = None,
        cross_scores: list[Tensor] | None = None,
    ) -> Tensor:
        """tokens (B, T) following the cache's tokens -> float32 logits (B, T, n_vocab); only
        the last position's (B, 1, n_vocab) with `last_only`, or those at the columns `at`
        (B, n) -> (B, n, n_vocab): the output projection is the largest product of a step.
        `cross_scores`, a list, receives each block's cross-attention logits (B, H, T, S)."""
        start, n_ctx = cache.length, self.positional_embedding.shape[0]
        end = start + tokens.shape[1]
        if end > n_ctx:
            raise ValueError(f"decoder context overflow: {end} tokens > {n_ctx} positions")
        positions = (
            torch.arange(start, end, device=tokens.device)[None] - cache.offsets
        ).clamp_min(0)
        x = self.token_embedding(tokens) + self.positional_embedding[positions]
        for index, block in enumerate(self.blocks):
            x = block(x, backend=backend, cache=cache, index=index, cross_scores=cross_scores)
        cache.length = end
        if last_only:
            x = x[:, -1:]
        elif at is not None:
            x = x.gather(1, at[..., None].expand(-1, -1, x.shape[-1]))
        return self.token_embedding.project(self.ln(x)).float()


class Whisper(nn.Module):
    """The network: encoder and decoder. The tokenizer and generation settings that decoding
    needs travel beside it, in `decoding.WhisperModel` (what `load_model` returns)."""

    def __init__(self, dims: ModelDims):
        super().__init__()
        self.dims = dims
        self.encoder = AudioEncoder(dims)
        self.decoder = TextDecoder(dims)
