"""Greedy decoding with a KV cache: the prompt, language detection, suppression rules, and
a batched loop where each row stops at its own end-of-text.

Rules, as in the checkpoints' generation configs (and Hugging Face / openai-whisper):
`suppress_tokens` are never emitted; `begin_suppress_tokens` (a blank, end-of-text) not as
the first token. Only no-timestamps transcription is implemented.
"""

from dataclasses import dataclass

import torch
from torch import Tensor

from .attention import check_backend
from .model import Whisper
from .tokenizer import TASKS


@dataclass(frozen=True)
class DecodingOptions:
    task: str = "transcribe"  # or "translate" (multilingual models)
    language: str | None = None  # None: English for English-only models, detected otherwise
    max_new_tokens: int | None = None  # None: half the text context (224), as openai-whisper
    attention: str = "sdpa"  # decoder attention backend

    def __post_init__(self):
        if self.task not in TASKS:
            raise ValueError(f"unknown task {self.task!r}; choose one of {TASKS}")
        if self.max_new_tokens is not None and self.max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be >= 1, got {self.max_new_tokens}")
        check_backend(self.attention)


@dataclass
class DecodingResult:
    tokens: list[int]  # text tokens, without the prompt and end-of-text
    text: str
    language: str | None
    hit_max_length: bool  # stopped by the length limit, not by end-of-text (a repetition loop, usually)


def detect_language(model: Whisper, audio_features: Tensor) -> list[str]:
    """Most likely language per row, from the decoder's logits after <|startoftranscript|>."""
    tokenizer = model.tokenizer
    cache = model.decoder.new_cache(audio_features)
    prompt = torch.full((audio_features.shape[0], 1), tokenizer.sot, device=audio_features.device)
    logits = model.decoder(prompt, cache, last_only=True)[:, -1]
    language_ids = torch.tensor([tokenizer.language_token(code) for code in tokenizer.languages], device=logits.device)
    return [tokenizer.languages[i] for i in logits[:, language_ids].argmax(dim=-1).tolist()]


@torch.inference_mode()
def greedy_decode(model: Whisper, audio_features: Tensor, options: DecodingOptions = DecodingOptions()) -> list[DecodingResult]:
    """Decode each row of `audio_features` (B, k, D) greedily."""
    tokenizer = model.tokenizer
    if tokenizer is None:
        raise ValueError("this model has no tokenizer: load it with load_model()")
    batch, device = audio_features.shape[0], audio_features.device
    if not tokenizer.multilingual:
        if options.language not in (None, "en"):
            raise ValueError(f"this is an English-only model; language {options.language!r} is not available")
        languages = [None] * batch
    elif options.language is None:
        languages = detect_language(model, audio_features)
    else:
        tokenizer.language_token(options.language)  # validates the code
        languages = [options.language] * batch
    prompts = torch.tensor([tokenizer.sot_sequence(lang, options.task) for lang in languages], device=device)
    max_new = options.max_new_tokens or model.dims.n_text_ctx // 2
    max_new = min(max_new, model.dims.n_text_ctx - prompts.shape[1])

    suppress = torch.tensor(model.suppress_tokens, dtype=torch.long, device=device)
    begin_suppress = torch.tensor(model.begin_suppress_tokens, dtype=torch.long, device=device)
    cache = model.decoder.new_cache(audio_features)
    logits = model.decoder(prompts, cache, options.attention, last_only=True)[:, -1]
    finished = torch.zeros(batch, dtype=torch.bool, device=device)
    generated = []
    for step in range(max_new):
        logits[:, suppress] = -torch.inf
        if step == 0:
            logits[:, begin_suppress] = -torch.inf
        next_tokens = logits.argmax(dim=-1).masked_fill(finished, tokenizer.eot)
        generated.append(next_tokens)
        finished |= next_tokens == tokenizer.eot
        if finished.all() or step == max_new - 1:
            break
        logits = model.decoder(next_tokens[:, None], cache, options.attention, last_only=True)[:, -1]

    results = []
    for row, tokens in enumerate(torch.stack(generated, dim=1).tolist()):
        ended = tokenizer.eot in tokens
        text_tokens = tokens[: tokens.index(tokenizer.eot)] if ended else tokens
        results.append(DecodingResult(text_tokens, tokenizer.decode(text_tokens).strip(), languages[row], not ended))
    return results
