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
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .attention import attention, check_backend
from .sparsify import EASConfig, Sparsifier, scored_attention


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


# oneDNN's fp32 matrix products beat the default BLAS (MKL) on this project's CPU (AMD EPYC,
# AVX-512, 2 threads): the encoder's 1500-row products run at ~200 vs ~150 GFLOP/s, and a
# decoding step's one-row products, bound by reading the weights from memory, are faster too
# (a 512 x 512 weight: 63 vs 106 us). The op is the one torch.compile's CPU backend emits for
# linear layers; it has no backward, so it serves inference only.
_ONEDNN_LINEAR = torch.backends.mkldnn.is_available() and hasattr(torch.ops.mkldnn, "_linear_pointwise")


def linear(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """x @ weight.T + bias, on oneDNN for CPU float32 inference, else `F.linear`."""
    if _ONEDNN_LINEAR and x.device.type == "cpu" and x.dtype == torch.float32 and not torch.is_grad_enabled():
        return torch.ops.mkldnn._linear_pointwise(x, weight, bias, "none", [], "")
    return F.linear(x, weight, bias)


class Linear(nn.Linear):
    def forward(self, x: Tensor) -> Tensor:
        return linear(x, self.weight, self.bias)


class LayerNorm(nn.LayerNorm):
    """LayerNorm computed in float32 whatever the model dtype: fp16 variance overflows."""

    def forward(self, x: Tensor) -> Tensor:
        weight, bias = self.weight.float(), self.bias.float()
        return F.layer_norm(x.float(), self.normalized_shape, weight, bias, self.eps).to(x.dtype)


def sinusoids(length: int, channels: int, max_timescale: float = 10_000.0) -> Tensor:
    """The encoder's fixed positional table, (length, channels): sines then cosines."""
    assert channels % 2 == 0
    inv_timescales = torch.exp(-math.log(max_timescale) / (channels // 2 - 1) * torch.arange(channels // 2))
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
        return x.view(batch, length, self.n_head, width // self.n_head).transpose(1, 2)  # (B, H, T, Dh)

    def project_kv(self, source: Tensor) -> tuple[Tensor, Tensor]:
        return self.split_heads(self.key(source)), self.split_heads(self.value(source))

    def forward(
        self, x: Tensor, k: Tensor, v: Tensor, *, causal: bool, backend: str, eas: EASConfig | None = None
    ) -> tuple[Tensor, Tensor | None]:
        """Attend from x (B, T, D) to keys/values (B, H, S, Dh). With `eas`, also return the
        attention each key receives (B, H, S), computed by the configured scorer."""
        q = self.split_heads(self.query(x))
        if eas is None:
            out, received = attention(q, k, v, causal=causal, backend=backend), None
        else:  # the EAS scoring block (encoder self-attention: never causal)
            out, received = scored_attention(q, k, v, eas, backend)
        batch, _, length, _ = out.shape
        return self.out(out.transpose(1, 2).reshape(batch, length, -1)), received


class ResidualAttentionBlock(nn.Module):
    """Pre-norm block: self-attention, (decoder only) cross-attention, MLP."""

    def __init__(self, n_state: int, n_head: int, cross_attention: bool = False):
        super().__init__()
        self.attn = MultiHeadAttention(n_state, n_head)
        self.attn_ln = LayerNorm(n_state)
        self.cross_attn = MultiHeadAttention(n_state, n_head) if cross_attention else None
        self.cross_attn_ln = LayerNorm(n_state) if cross_attention else None
        self.mlp = nn.Sequential(Linear(n_state, 4 * n_state), nn.GELU(), Linear(4 * n_state, n_state))
        self.mlp_ln = LayerNorm(n_state)

    def forward(
        self, x: Tensor, *, backend: str, cache: "KVCache | None" = None, index: int = 0, eas: EASConfig | None = None
    ) -> tuple[Tensor, Tensor | None]:
        h = self.attn_ln(x)
        k, v = self.attn.project_kv(h)
        if cache is not None:  # decoder: append this step's keys/values, attend to all so far
            k, v = cache.append(index, k, v)
        attended, received = self.attn(h, k, v, causal=cache is not None, backend=backend, eas=eas)
        x = x + attended
        if self.cross_attn is not None:
            cross_k, cross_v = cache.cross_kv[index]
            x = x + self.cross_attn(self.cross_attn_ln(x), cross_k, cross_v, causal=False, backend=backend)[0]
        return x + self.mlp(self.mlp_ln(x)), received


@dataclass
class EncoderOutput:
    features: Tensor  # (B, k, D): k = n_audio_ctx without EAS
    kept: Tensor | None  # (B, k) indices into the 1500 positions, increasing; None without EAS


class AudioEncoder(nn.Module):
    def __init__(self, dims: ModelDims):
        super().__init__()
        self.dims = dims
        self.conv1 = nn.Conv1d(dims.n_mels, dims.n_audio_state, kernel_size=3, padding=1)
        self.conv2 = nn.Conv1d(dims.n_audio_state, dims.n_audio_state, kernel_size=3, stride=2, padding=1)
        self.register_buffer("positional_embedding", sinusoids(dims.n_audio_ctx, dims.n_audio_state))
        self.blocks = nn.ModuleList(
            ResidualAttentionBlock(dims.n_audio_state, dims.n_audio_head) for _ in range(dims.n_audio_layer)
        )
        self.sparsifier = Sparsifier()
        self.ln_post = LayerNorm(dims.n_audio_state)

    def layer_backends(self, attention: str | Sequence[str]) -> list[str]:
        backends = [attention] * len(self.blocks) if isinstance(attention, str) else list(attention)
        if len(backends) != len(self.blocks):
            raise ValueError(f"got {len(backends)} attention backends for {len(self.blocks)} encoder blocks")
        return [check_backend(b) for b in backends]

    def stem(self, mel: Tensor) -> Tensor:
        """(B, n_mels, 2 * n_audio_ctx) -> (B, n_audio_ctx, D) with positions added."""
        expected = (self.dims.n_mels, 2 * self.dims.n_audio_ctx)
        if mel.ndim != 3 or tuple(mel.shape[1:]) != expected:
            raise ValueError(f"encoder expects mel of shape (batch, {expected[0]}, {expected[1]}), got {tuple(mel.shape)}")
        x = F.gelu(self.conv2(F.gelu(self.conv1(mel))))
        return x.transpose(1, 2) + self.positional_embedding

    def forward(self, mel: Tensor, *, eas: EASConfig | None = None, attention: str | Sequence[str] = "sdpa") -> EncoderOutput:
        return self.transform(self.stem(mel), eas=eas, attention=attention)

    def transform(self, x: Tensor, *, eas: EASConfig | None = None, attention: str | Sequence[str] = "sdpa") -> EncoderOutput:
        """The blocks, the EAS stage and the final norm: (B, n_audio_ctx, D) -> (B, k, D)."""
        backends = self.layer_backends(attention)
        if eas is not None:
            eas.check_layers(len(self.blocks))
        # Scores matter only if some token is dropped; with k = T the stage keeps all (s = 0 is the baseline).
        drops = eas is not None and eas.n_keep(x.shape[1]) < x.shape[1]
        scoring = eas.scoring_blocks() if drops else range(0)
        kept, received = None, []
        for index, block in enumerate(self.blocks):
            x, scores = block(x, backend=backends[index], eas=eas if index in scoring else None)
            if scores is not None:
                received.append(scores)
            if eas is not None and index == eas.layer - 1:
                x, kept = self.sparsifier(x, received, eas)  # the EAS stage: T -> k tokens
        return EncoderOutput(self.ln_post(x), kept)


class KVCache:
    """Decoder state for one batch: cross-attention K/V per layer, computed once from the
    (possibly sparsified) encoder output, and self-attention K/V preallocated for the whole
    text context and filled in place as tokens arrive (no per-step concatenation)."""

    def __init__(self, cross_kv: list[tuple[Tensor, Tensor]], n_text_ctx: int):
        self.cross_kv = cross_kv
        batch, n_head, _, head_dim = cross_kv[0][0].shape
        shape = (len(cross_kv), batch, n_head, n_text_ctx, head_dim)
        like = cross_kv[0][0]
        self.self_k = torch.zeros(shape, dtype=like.dtype, device=like.device)
        self.self_v = torch.zeros(shape, dtype=like.dtype, device=like.device)
        self.length = 0  # tokens already in the cache

    def append(self, layer: int, k: Tensor, v: Tensor) -> tuple[Tensor, Tensor]:
        end = self.length + k.shape[-2]
        if end > self.self_k.shape[-2]:
            raise ValueError(f"decoder context overflow: {end} tokens > {self.self_k.shape[-2]} positions")
        self.self_k[layer, :, :, self.length : end] = k
        self.self_v[layer, :, :, self.length : end] = v
        return self.self_k[layer, :, :, :end], self.self_v[layer, :, :, :end]


class TextDecoder(nn.Module):
    def __init__(self, dims: ModelDims):
        super().__init__()
        self.token_embedding = nn.Embedding(dims.n_vocab, dims.n_text_state)
        self.positional_embedding = nn.Parameter(torch.zeros(dims.n_text_ctx, dims.n_text_state))
        self.blocks = nn.ModuleList(
            ResidualAttentionBlock(dims.n_text_state, dims.n_text_head, cross_attention=True)
            for _ in range(dims.n_text_layer)
        )
        self.ln = LayerNorm(dims.n_text_state)

    def new_cache(self, audio_features: Tensor) -> KVCache:
        cross_kv = [block.cross_attn.project_kv(audio_features) for block in self.blocks]
        return KVCache(cross_kv, self.positional_embedding.shape[0])

    def forward(self, tokens: Tensor, cache: KVCache, attention: str = "sdpa", last_only: bool = False) -> Tensor:
        """tokens (B, T) following the cache's tokens -> float32 logits (B, T, n_vocab),
        or (B, 1, n_vocab) for the last position only (all greedy decoding needs)."""
        start = cache.length
        x = self.token_embedding(tokens) + self.positional_embedding[start : start + tokens.shape[1]]
        for index, block in enumerate(self.blocks):
            x, _ = block(x, backend=attention, cache=cache, index=index)
        cache.length = start + tokens.shape[1]
        if last_only:
            x = x[:, -1:]
        # The output projection is tied to the token embedding.
        return linear(self.ln(x), self.token_embedding.weight).float()


class Whisper(nn.Module):
    """The network. `load_model` also attaches the checkpoint's tokenizer and suppress lists,
    which decoding reads; a bare `Whisper(dims)` (random weights) has none."""

    def __init__(self, dims: ModelDims):
        super().__init__()
        self.dims = dims
        self.encoder = AudioEncoder(dims)
        self.decoder = TextDecoder(dims)
        self.tokenizer = None
        self.suppress_tokens: tuple[int, ...] = ()
        self.begin_suppress_tokens: tuple[int, ...] = ()

    @property
    def is_multilingual(self) -> bool:
        return self.dims.n_vocab >= 51865

    @property
    def num_languages(self) -> int:
        # Vocabulary layout: BPE ranks, then 8 fixed specials, the languages, 1501 timestamps.
        n_ranks = 50257 if self.is_multilingual else 50256
        return self.dims.n_vocab - n_ranks - 8 - 1501

