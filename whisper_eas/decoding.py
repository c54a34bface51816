"""Decoding one batch of 30 s windows with a KV cache: the prompt, language detection, the
suppression and timestamp rules, greedy or temperature sampling, and the statistics the
fallback rules read (average log-probability, compression ratio, no-speech probability).

Rules, as openai-whisper's and transformers' logits processors apply them:
- `suppress_tokens` are never emitted; `begin_suppress_tokens` (a blank, end-of-text) not first;
- timestamps (when on): the first token is a timestamp <= 1.0 s; timestamps come in pairs
  (a lone timestamp is followed by another or by end-of-text, a pair by text); they never
  decrease, and a segment cannot end where it started; a timestamp is forced when the
  timestamps' total probability beats every single text token. After a prefix (forced after
  <|0.00|>) the first token is free and the rules read only the tokens after it (CTranslate2's).
"""

import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial

import numpy as np
import torch
from torch import Tensor

from . import fbgemm
from .attention import check_backend
from .cpu import has_amx, has_bf16
from .cuda_step import StepGraphs, decoder_step
from .model import EncoderOutput, KVCache, TokenEmbedding, Whisper, one_row_run
from .screening import (
    KINDS,
    bf16_screen_works,
    int8_screen_works,
    int8x2_screen_works,
    screen_works,
)
from .tokenizer import TASKS, Tokenizer, language_code

MAX_INITIAL_TIMESTAMP = 1.0  # seconds: the first timestamp of a window
SECONDS_PER_TIMESTAMP = 0.02
# With `speech_until`, the text may not end on a segment's end timestamp before it either (not
# only on a segment's start): base int8 closed "...talk to her." at 43.40 s and ended a part's
# last window, so the seek passed over "They were going to meet as usual." (43.4-44.7 s).
HOLD_CLOSED_END = True


@dataclass
class WhisperModel:
    """A loaded checkpoint: the network, its tokenizer, and the checkpoint's generation
    settings (what `load_model` returns; decoding reads all three)."""

    network: Whisper
    tokenizer: Tokenizer
    suppress_tokens: tuple[int, ...]  # never emitted (non-speech symbols and control tokens)
    begin_suppress_tokens: tuple[int, ...]  # not emitted first
    alignment_heads: tuple[tuple[int, int], ...] = ()  # (decoder layer, head): word timing
    name: str = "custom"

    @property
    def dims(self):
        return self.network.dims

    @property
    def device(self) -> torch.device:
        return self.network.decoder.positional_embedding.device

    @property
    def dtype(self) -> torch.dtype:
        return self.network.decoder.positional_embedding.dtype


@dataclass(frozen=True)
class DecodingOptions:
    task: str = "transcribe"  # or "translate" (multilingual models)
    language: str | None = None  # None: English for English-only models, detected otherwise
    timestamps: bool = False  # timestamp tokens (segments), or <|notimestamps|>
    temperature: float = 0.0  # 0: greedy; else sampling from softmax(logits / temperature)
    max_new_tokens: int | None = None  # None: half the text context (224), as openai-whisper
    backend: str = "eager"  # decoder attention: eager keeps each row's numbers its own
    hotwords: str | None = None  # words to hint in every window's prompt (faster-whisper's)
    beam_size: int | None = None  # beam search at temperature 0 (None: greedy)
    patience: float | None = None  # beam search: stop after beam_size * patience finish
    length_penalty: float | None = None  # None: rank by log-prob / length; else Google NMT's
    best_of: int | None = None  # sampling: draws per row, the likeliest kept (None: one)
    suppress_tokens: tuple[int, ...] = (-1,)  # never emitted; -1: the checkpoint's list
    suppress_blank: bool = True  # no blank and no end-of-text as the first token
    prefix: str | None = None  # text forced at the start of each row's output (then decoded on)
    # faster-whisper's: a token already in the window divides its logit (`penalized`), and a
    # token that would repeat an n-gram of this size is never written (0: any may repeat)
    repetition_penalty: float = 1.0
    no_repeat_ngram_size: int = 0
    # the latest a window's first timestamp may be, in seconds (None: anywhere), openai-whisper's
    max_initial_timestamp: float | None = MAX_INITIAL_TIMESTAMP
    # A greedy CPU step's output-projection screen (`screening.KINDS`); None: `screen_kind`'s
    screen: str | None = None
    # The caller decodes one file at a time by its setting (transcribe's batch_size=1), so a
    # row is never beside another file's: its steps take the kernels fastest for one row
    # (`model.one_row_run`, `screen_kind`), whose bits differ from those it gets in a batch.
    one_row: bool = False

    def __post_init__(self):
        if self.task not in TASKS:
            raise ValueError(f"unknown task {self.task!r}; choose one of {TASKS}")
        if self.max_new_tokens is not None and self.max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be >= 1, got {self.max_new_tokens}")
        if not 0.0 <= self.temperature:
            raise ValueError(f"temperature must be >= 0, got {self.temperature}")
        if self.beam_size is not None and self.beam_size < 1:
            raise ValueError(f"beam_size must be >= 1, got {self.beam_size}")
        if self.best_of is not None and self.best_of < 1:
            raise ValueError(f"best_of must be >= 1, got {self.best_of}")
        if self.patience is not None and (self.patience <= 0 or self.beam_size is None):
            raise ValueError(f"patience must be > 0 and needs beam_size, got {self.patience}")
        if any(not isinstance(t, int) or t < -1 for t in self.suppress_tokens):
            raise ValueError(
                f"suppress_tokens must be token ids (or -1), got {self.suppress_tokens!r}"
            )
        if not (isinstance(self.repetition_penalty, (int, float)) and self.repetition_penalty > 0):
            raise ValueError(f"repetition_penalty must be > 0, got {self.repetition_penalty!r}")
        if not (isinstance(self.no_repeat_ngram_size, int) and self.no_repeat_ngram_size >= 0):
            raise ValueError(
                f"no_repeat_ngram_size must be an integer >= 0, got {self.no_repeat_ngram_size!r}"
            )
        latest = self.max_initial_timestamp
        if latest is not None and not (isinstance(latest, (int, float)) and latest >= 0):
            raise ValueError(f"max_initial_timestamp must be >= 0 or None, got {latest!r}")
        if self.screen is not None and self.screen not in KINDS:
            raise ValueError(f"screen must be one of {KINDS} (or None), got {self.screen!r}")
        if not isinstance(self.one_row, bool):
            raise ValueError(f"one_row must be True or False, got {self.one_row!r}")
        check_backend(self.backend)


@dataclass
class DecodingResult:
    tokens: list[int]  # sampled tokens (text, timestamps when on) after a prefix's; no end-of-text
    text: str
    language: str | None
    avg_logprob: float  # sum of the chosen tokens' log-probabilities / (len(tokens) + 1)
    no_speech_prob: float  # probability of <|nospeech|> right after <|startoftranscript|>
    no_speech_prob_alone: float  # the same without the previous-text prompt before it
    temperature: float
    hit_max_length: bool  # stopped by the length limit, not by end-of-text (usually a loop)
    hit_token_limit: bool = False  # stopped by its row's `token_limits` (what its audio holds)
    compression_ratio: float = field(init=False)
    language_probability: float | None = None  # set where the language was detected

    def __post_init__(self):
        self.compression_ratio = compression_ratio(self.text)


def compression_ratio(text: str) -> float:
    """len(text) / len(compressed text) in bytes: repetition loops compress well (> 2.4)."""
    data = text.encode("utf-8")
    return len(data) / len(zlib.compress(data)) if data else 0.0


def all_suppressed(model: WhisperModel, listed: tuple[int, ...] = (-1,)) -> list[int]:
    """The `listed` tokens (-1: the checkpoint's suppress list, openai-whisper's "-1") plus
    the control tokens no transcript contains."""
    tokens = {*model.tokenizer.control_tokens}
    for token in listed:
        tokens |= set(model.suppress_tokens) if token == -1 else {token}
    if max(tokens) >= model.dims.n_vocab:
        raise ValueError(f"suppress_tokens: {max(tokens)} is not a token (vocabulary: "
                         f"{model.dims.n_vocab})")  # fmt: skip
    return sorted(tokens)


@torch.inference_mode()
def detect_language(
    model: WhisperModel, audio: EncoderOutput, backend: str = "eager"
) -> list[tuple[str, float]]:
    """Most likely language per row and its probability among the languages, from the
    decoder's logits after <|startoftranscript|>."""
    tokenizer = model.tokenizer
    cache = model.network.decoder.new_cache(audio, n_text_ctx=1)
    prompt = torch.full((audio.features.shape[0], 1), tokenizer.sot, device=audio.features.device)
    logits = model.network.decoder(prompt, cache, backend)[:, -1]
    codes = tokenizer.languages
    ids = torch.tensor([tokenizer.language_token(code) for code in codes], device=logits.device)
    probs = logits[:, ids].float().softmax(dim=-1)
    best, index = probs.max(dim=-1)
    return [(codes[i], p) for i, p in zip(index.tolist(), best.tolist())]


def no_speech_alone(
    model: WhisperModel, cache: KVCache, rows: list[int], backend: str = "eager"
) -> list[float]:
    """The <|nospeech|> probability of each of `rows` after a bare <|startoftranscript|>,
    reading the cross-attention K/V `cache` already holds (one more decoder token per row). A long
    previous-text prompt inflates the prompted probability on a window of short speech
    (tiny.en, a 1 s last window "were in position": 0.85 prompted, 0.10 alone), so the silence
    rule that trusts it reads this one."""
    tokenizer = model.tokenizer
    every_row = rows == list(range(len(cache.kept_counts)))
    cross_kv = cache.cross_kv if every_row else [(k[rows], v[rows]) for k, v in cache.cross_kv]
    counts = [cache.kept_counts[row] for row in rows]
    alone = KVCache(cross_kv, counts, n_text_ctx=1, dtype=cache.self_k.dtype)
    sot = torch.full((len(rows), 1), tokenizer.sot, device=cache.positions.device)
    logits = model.network.decoder(sot, alone, backend)[:, 0]
    return logits.softmax(dim=-1)[:, tokenizer.special["<|nospeech|>"]].tolist()


def timestamp_masks(
    tokens: Sequence[int],
    timestamp_begin: int,
    eot: int,
    n_vocab: int,
    speech_until: int | None = None,
    after_prefix: bool = False,
    max_initial: float | None = MAX_INITIAL_TIMESTAMP,
) -> list[tuple[int, int]]:
    """The token ranges [start, end) that one row may not emit next, so that its timestamps
    stay well formed; `tokens` are the row's sampled so far (no prompt, no prefix). With
    `speech_until`, the text may not end on a segment's start (or end: `HOLD_CLOSED_END`)
    timestamp before this one. After a prefix (`after_prefix`, its <|0.00|> and text forced in
    the prompt) the first token is free and the rules read only what follows it, as
    CTranslate2's: the prefix's segment is open, so the opening rule does not apply. The
    window opens with a timestamp, at most `max_initial` seconds in (None: anywhere)."""
    if not tokens:
        if after_prefix:
            return []
        if max_initial is None:
            return [(0, timestamp_begin)]
        last_allowed = timestamp_begin + round(max_initial / SECONDS_PER_TIMESTAMP)
        return [(0, timestamp_begin), (last_allowed + 1, n_vocab)]
    last = tokens[-1] >= timestamp_begin
    penultimate = len(tokens) < 2 or tokens[-2] >= timestamp_begin
    if last and penultimate:  # a pair closed: text (or eot) next
        masks = [(timestamp_begin, n_vocab)]
    else:
        # Never decreasing; a segment's end must lie past its start (no zero-length loops).
        # Timestamps only grow, so the latest is the last one.
        latest = next((t for t in reversed(tokens) if t >= timestamp_begin), None)
        masks = [] if latest is None else [(timestamp_begin, latest if last else latest + 1)]
        if last:  # a lone timestamp: its partner or eot next
            masks.append((0, eot))
    held = last if HOLD_CLOSED_END else last and penultimate
    if held and speech_until is not None and tokens[-1] - timestamp_begin < speech_until:
        masks.append((eot, eot + 1))  # no end of text while speech follows: its text next
    return masks


def apply_timestamp_rules(
    logits: Tensor,
    generated: Sequence[Sequence[int]],
    timestamp_begin: int,
    eot: int,
    speech_until: Sequence[int | None] | None = None,
    after_prefix: bool = False,
    refine: Callable[[Tensor], None] | None = None,
    max_initial: float | None = MAX_INITIAL_TIMESTAMP,
) -> Tensor:
    """Mask `logits` (B, V) in place by each row's `timestamp_masks` (`generated`: the rows'
    tokens so far; `speech_until`: each row's bound, or None), and force a timestamp where all
    timestamps together are likelier than any one text token. Returns the masked logits'
    log-probabilities (float32), which the last rule needs anyway: a step computes them once.
    `refine(logits)` runs between the masks and the rule (`screening`); `max_initial`: the
    latest first timestamp (`timestamp_masks`).

    The rules read each row's tokens on the host, as openai-whisper's do: a row needs one or
    two slices masked a step, where masks computed on the device took ~30 small ops (on the
    CPU 0.34 ms of a 5.5 ms tiny.en step at batch 1, against 0.20 ms so)."""
    for row, tokens in enumerate(generated):
        until = None if speech_until is None else speech_until[row]
        for start, end in timestamp_masks(
            tokens, timestamp_begin, eot, logits.shape[1], until, after_prefix, max_initial
        ):
            logits[row, start:end] = -torch.inf
    if refine is not None:
        refine(logits)
    logprobs = logits.float().log_softmax(dim=-1)
    if not any(generated):  # the first token: the opening rule alone
        return logprobs
    timestamp_mass = logprobs[:, timestamp_begin:].logsumexp(dim=-1)
    best_text = logprobs[:, :timestamp_begin].amax(dim=-1)
    forced = timestamp_mass > best_text
    if forced.any():
        logits[forced, :timestamp_begin] = -torch.inf
        logprobs[forced] = logits[forced].float().log_softmax(dim=-1)
    return logprobs


def prompt_of(
    model: WhisperModel,
    previous: list[int],
    language: str | None,
    options: DecodingOptions,
    forced: tuple[int, ...] | list[int] = (),
) -> list[int]:
    """[<|startofprev|> hotwords, previous text] + the start sequence + `forced` (a prefix's
    `forced_tokens`): faster-whisper's `get_prompt`, up to 223 tokens of hint, then the previous
    text's last 223 (its hint is dropped under a prefix). A window's new tokens are then fewer
    by the hint's length, as in faster-whisper; only a hint or a prefix of over ~100 tokens
    also shortens the previous text, so that at least `n_text_ctx // 4` new tokens stay
    possible (its prompt would leave none)."""
    tokenizer = model.tokenizer
    room = model.dims.n_text_ctx // 2 - 1
    hinted = options.hotwords and not options.prefix
    hint = tokenizer.encode(" " + options.hotwords.strip())[:room] if hinted else []
    start = tokenizer.sot_sequence(language, options.task, options.timestamps)
    kept = min(room, model.dims.n_text_ctx * 3 // 4 - 1 - len(hint) - len(start) - len(forced))
    context = hint + (previous[-kept:] if kept > 0 and previous else [])
    head = [tokenizer.special["<|startofprev|>"], *context] if context else []
    return head + start + list(forced)


def forced_tokens(model: WhisperModel, options: DecodingOptions) -> list[int]:
    """The tokens a prefix forces after the start sequence (faster-whisper's): the window's
    first timestamp when timestamps are on, then the prefix's text, at most 223 tokens."""
    if not options.prefix:
        return []
    tokenizer = model.tokenizer
    text = tokenizer.encode(" " + options.prefix.strip())[: model.dims.n_text_ctx // 2 - 1]
    return ([tokenizer.timestamp_begin] if options.timestamps else []) + text


def checked_language(
    model: WhisperModel, language: str | None, task: str = "transcribe"
) -> str | None:
    """`language` (and `task`) validated for this model; None for an English-only model (its
    prompt names no language) and None when a multilingual model is to detect it."""
    language = None if language is None else language_code(language)
    if not model.tokenizer.multilingual:
        if task == "translate":
            raise ValueError(
                "this is an English-only model; it cannot translate (use a multilingual model, "
                "such as base)"
            )
        if language not in (None, "en"):
            raise ValueError(
                f"this is an English-only model; language {language!r} is not available"
            )
        return None
    if language is not None:
        model.tokenizer.language_token(language)  # validates the code
    return language


def resolve_languages(model: WhisperModel, audio: EncoderOutput, options: DecodingOptions) -> list:
    language = checked_language(model, options.language, options.task)
    if model.tokenizer.multilingual and language is None:
        return [code for code, _ in detect_language(model, audio, options.backend)]
    return [language] * audio.features.shape[0]


def run_prompts(
    model: WhisperModel, cache: KVCache, prompts: list[list[int]], backend: str
) -> tuple[Tensor, Tensor]:
    """Run each row's prompt into `cache` -> the logits after <|startoftranscript|> (which
    hold the no-speech probability) and after the prompt's last token, (B, V) each.

    Rows whose prompts have the same length run together; a batch of different lengths would
    pad them, and a row's numbers would then depend on its neighbours' lengths."""
    decoder, sot = model.network.decoder, model.tokenizer.sot
    after_sot = torch.empty(len(prompts), model.dims.n_vocab, device=model.device)
    after_prompt = torch.empty_like(after_sot)
    by_length: dict[int, list[int]] = {}
    for row, prompt in enumerate(prompts):
        by_length.setdefault(len(prompt), []).append(row)
    for length, rows in by_length.items():
        group = cache.select(rows)
        tokens = torch.tensor([prompts[row] for row in rows], device=model.device)
        at = torch.tensor([[prompts[row].index(sot), length - 1] for row in rows])
        logits = decoder(tokens, group, backend, at=at.to(model.device))  # (b, 2, V)
        cache.take(group, rows)
        after_sot[rows], after_prompt[rows] = logits[:, 0], logits[:, 1]
    return after_sot, after_prompt


def suppression(model: WhisperModel, options: DecodingOptions) -> tuple[Tensor, Tensor]:
    """Additive biases (V,): -inf on the tokens never emitted, and on those not emitted first."""
    vocab, device = model.dims.n_vocab, model.device
    always = torch.zeros(vocab, device=device)
    always[all_suppressed(model, options.suppress_tokens)] = -torch.inf
    if options.timestamps:
        always[model.tokenizer.no_timestamps] = -torch.inf
    first = always.clone()
    if options.suppress_blank:
        first[list(model.begin_suppress_tokens)] = -torch.inf
    return always, first


ARGMAX_CHUNK = 256


def first_argmax(x: Tensor) -> Tensor:
    """x.argmax(dim=-1) of a (B, V) tensor, the first largest's index (NaN the largest), as
    PyTorch's, in vectorised reductions: its CPU argmax walks a row one element at a time (a
    vocabulary's 51,865 logits in 130 us at one row, 560 us at eight; this 67 and 83-120, AMX
    Xeon). The largest of each chunk of ARGMAX_CHUNK columns, the first chunk holding the
    row's largest, then the first largest within it."""
    batch, n = x.shape
    whole = n - n % ARGMAX_CHUNK
    maxima = x[:, :whole].view(batch, -1, ARGMAX_CHUNK).amax(dim=-1)
    if whole < n:
        maxima = torch.cat((maxima, x[:, whole:].amax(dim=-1, keepdim=True)), dim=1)
    starts = maxima.argmax(dim=-1) * ARGMAX_CHUNK
    # The last chunk may be short: its columns past the end repeat the last column, after it.
    columns = (starts[:, None] + torch.arange(ARGMAX_CHUNK, device=x.device)).clamp_max_(n - 1)
    return starts + x.gather(1, columns).argmax(dim=-1)


def choose_tokens(
    logits: Tensor, temperature: float, generators: list[torch.Generator] | None
) -> Tensor:
    """The next token of each row (B,): the argmax, or a draw from softmax(logits / T) with
    the row's own generator (its draws must not depend on which rows share its batch)."""
    if temperature == 0:
        return first_argmax(logits)
    probs = (logits / temperature).softmax(dim=-1)
    if generators is None:
        generators = [torch.Generator(device=logits.device).manual_seed(0) for _ in probs]
    draws = [torch.multinomial(p, 1, generator=g) for p, g in zip(probs, generators)]
    return torch.cat(draws)


def penalized(
    logits: Tensor,
    written: Sequence[Sequence[int]],
    forced: Sequence[int],
    options: DecodingOptions,
) -> Tensor:
    """faster-whisper's `repetition_penalty` and `no_repeat_ngram_size` (CTranslate2's
    logits processors, before any suppression or timestamp rule): each row (B, V) by its own
    tokens of this window, a prefix's `forced` ones first. A token already written has its
    logit divided by the penalty (multiplied where negative: either way less likely for a
    penalty over 1), and a token that would complete an n-gram the row has written before is
    never written. Returns `logits` itself when there is nothing to change, else a copy."""
    penalty, size = options.repetition_penalty, options.no_repeat_ngram_size
    if penalty == 1 and size == 0:
        return logits
    logits = logits.clone()
    for row, tokens in enumerate(written):
        tokens = [*forced, *tokens]
        if penalty != 1 and tokens:
            seen = torch.tensor(sorted(set(tokens)), device=logits.device)
            values = logits[row, seen]
            logits[row, seen] = torch.where(values < 0, values * penalty, values / penalty)
        if size and len(tokens) >= size:
            tail = tokens[len(tokens) - size + 1 :]  # the n-gram's first n - 1 tokens
            repeats = {
                tokens[start + size - 1]
                for start in range(len(tokens) - size + 1)
                if tokens[start : start + size - 1] == tail
            }
            logits[row, sorted(repeats)] = -torch.inf
    return logits


DROP_FINISHED = 0.25  # the share of a batch's rows that must have finished to be dropped


@dataclass
class Generated:
    tokens: list[list[int]]  # per row, up to (not including) end-of-text
    sum_logprobs: list[float]
    ended: list[bool]  # reached end-of-text (else the row's length limit)
    # The row whose cross K/V each position of the cache's tensors holds once finished rows
    # were dropped (`KVCache.keep` swaps them); None: each its own.
    rows_at: list[int] | None = None


def generate(
    model: WhisperModel,
    cache: KVCache,
    logits: Tensor,
    limits: list[int],
    options: DecodingOptions,
    generators: list[torch.Generator] | None,
    speech_until: list[int | None] | None = None,
    forced: Sequence[int] = (),
) -> Generated:
    """Sample each row's tokens from the logits after its prompt until end-of-text or its
    own limit of new tokens, feeding each token back through the decoder. `forced`: the
    tokens of a prefix the prompt ends on (see `timestamp_masks`, `penalized`).

    Each row's tokens, sums and state live on the host: a step reads its chosen tokens back
    anyway (the rules read them), and on the CPU each op on a small tensor costs a few
    microseconds (the loop's own work took 0.56 ms of a tiny.en step at batch 1 as tensors,
    0.38 ms so)."""
    tokenizer, decoder, eot = model.tokenizer, model.network.decoder, model.tokenizer.eot
    batch, device = logits.shape[0], logits.device
    always, first = suppression(model, options)
    generated: list[list[int]] = [[] for _ in range(batch)]  # up to (not including) eot
    finished, ended = [False] * batch, [False] * batch
    sum_logprobs = np.zeros(batch, dtype=np.float32)  # summed in float32, as on the device
    active, n_active = None, batch  # the rows the cache still decodes (None: all of them)
    rows_at = list(range(batch))  # the row each position of the cache's tensors holds
    # A greedy step on the CPU projects its output through a bf16 or int8 screen
    # (`screening`): the step returns the LayerNorm's output, and the screened logits are made
    # exact where they may win once the rules have masked them (`refine`).
    screen = screened_projection(model, options)
    step_on = decoder_step(decoder, cache, options.backend, project=screen is None)
    if screen is not None:
        hidden = torch.zeros(batch, model.dims.n_text_state, device=device)
        norms = torch.zeros(batch, 2, device=device)  # the rows' own, for their margins
    # A finished row goes on stepping with the others (its tokens are thrown away), so the
    # furthest row's next position is counted here: no row may write past the text context.
    furthest, n_ctx = int(cache.positions.max()), cache.self_k.shape[3]
    for step in range(max(limits)):
        logits = penalized(logits, generated, forced, options)
        logits = logits + (first if step == 0 else always)
        refine = None  # the first step's logits are the prompt's (float32), the next screened
        if screen is not None and step:
            refine = partial(screen.refine, hidden=hidden, norms=norms)
        if options.timestamps:
            logprobs = apply_timestamp_rules(
                logits, generated, tokenizer.timestamp_begin, eot, speech_until, bool(forced),
                refine, options.max_initial_timestamp,
            )  # fmt: skip
        else:
            if refine is not None:
                refine(logits)
            logprobs = logits.log_softmax(dim=-1)
        next_tokens = choose_tokens(logits, options.temperature, generators)
        picked = logprobs.gather(1, next_tokens[:, None])[:, 0].cpu().numpy()
        for row, token in enumerate(next_tokens.tolist()):
            if finished[row]:  # its draws are thrown away
                continue
            sum_logprobs[row] += picked[row]
            if token == eot:
                finished[row] = ended[row] = True
            else:
                generated[row].append(token)
                finished[row] = len(generated[row]) >= limits[row]
        if all(finished):
            break
        # Drop finished rows from the cache once DROP_FINISHED of its rows have finished: a
        # step reads every row's cross K/V, and a round's longest row often runs on alone for
        # dozens of steps. A row's numbers do not depend on its neighbours. Steps replayed
        # from graphs keep them (on a GPU a step costs its launches, not its rows, and fewer
        # rows need new graphs), unless one would write past the context (a row still
        # decoding never does: `decode` sets the limits so).
        still = [place for place in range(n_active) if not finished[rows_at[place]]]
        n_done = n_active - len(still)
        crowded = not isinstance(step_on, StepGraphs) and n_done >= DROP_FINISHED * n_active
        if cache.beams == 1 and n_done and (crowded or furthest >= n_ctx):
            order = KVCache.room_for(still)
            cache, rows_at = cache.keep(order), KVCache.moved_rows(rows_at, order)
            n_active = len(order)
            active = torch.tensor(rows_at[:n_active], device=device)
            step_on = decoder_step(decoder, cache, options.backend, project=screen is None)
            furthest = int(cache.positions.max())
        out = step_on(next_tokens[:, None] if active is None else next_tokens[active, None])
        out = out[:, -1]
        furthest += 1
        if screen is not None:  # `out` is the LayerNorm's output: kept to refine, and screened
            stepped = slice(None) if active is None else active
            hidden[stepped] = out
            out, norms[stepped] = screen(out)
        if active is None:
            logits = out
        else:  # a dropped row keeps its last logits (it has finished: they are not read)
            logits[active] = out
    return Generated(generated, sum_logprobs.tolist(), ended, rows_at)


def screen_kind(one_row: bool = True) -> str | None:
    """The screen this CPU reads fastest (`screening`), for steps of one row or of several.
    One row reads the fewest bytes: on a CPU with AMX "int8x2", whose int8 tiles take one to
    sixteen rows in about the same time (AMX Xeon, weights from memory: tiny.en's screen 2.98
    against bf16's 3.39 ms at one row; base 3.43 against 4.63; 12 long recordings each alone,
    taking turns, the same texts: int8 --batch-size 1 1.08x, tiny.en and base;
    benchmarks/screen_kinds.py); elsewhere "int8", ATen's weight-only product (AMD EPYC Zen 4
    with AVX512-BF16: 1.08x tiny.en, 1.06x base faster than bf16 at --batch-size 1, the same
    texts). For several rows "bf16" on a CPU with bf16 instructions: on the AMX Xeon it reads
    as fast as int8x2 (3.70 against 3.78 ms at eight rows; base float32 by default 1.00x) and
    is made ~0.15 s sooner, a cost each process pays once; ATen's int8 product computes each
    row apart (eight rows cost eight times one). On a CPU without bf16 instructions
    "int8x2-fbgemm" for one row: FBGEMM multiplies bytes where ATen's int8 product is bound
    by converting them (AMD EPYC with AVX2 only, tiny.en float32, 6 long recordings, the same
    texts: 1.02x ATen's int8 at --batch-size 1); and no screen for several rows, where eight
    rows' float32 product is bound by arithmetic as FBGEMM's sixteen int8 rows are: in one
    process the screen ran 1.03x (tiny.en) and 0.97x (base) no screen, and making it took
    0.28-0.4 s of each process (one process per recording, 12 each: 1.00x and 1.04x faster
    without it, the same texts; benchmarks/results/long_per_process_avx2_noscreen8_f32_cpu.md).
    Else int8x2 with AMX, "int8" where ATen's weight-only int8 product works, or None."""
    amx = has_amx() and int8x2_screen_works()
    if amx and one_row:
        return "int8x2"
    if not has_bf16() and not one_row:
        return None  # several rows without bf16: the float32 product is as fast (docstring)
    if not has_bf16() and fbgemm.product_is_exact():
        return "int8x2-fbgemm"
    if one_row and int8_screen_works():
        return "int8"
    if has_bf16() and bf16_screen_works():
        return "bf16"
    if amx:
        return "int8x2"
    return "int8" if int8_screen_works() else None


def screened_projection(model: WhisperModel, options: DecodingOptions):
    """The output projection screened (`screening.ScreenedProjection`) where a step may use
    it: greedy without a repetition penalty, a float32 projection on oneDNN (a float32 model,
    or an int8 one that keeps its projection float32), in `options.screen` (None: this CPU's
    `screen_kind`). Else None."""
    decoder = model.network.decoder
    embedding = decoder.token_embedding
    usable = isinstance(embedding, TokenEmbedding) and embedding.packed is not None
    # A repetition penalty rescales logits after the screen would have bounded them.
    greedy = options.temperature == 0 and options.repetition_penalty == 1
    if not (decoder.screened_logits and usable and greedy):
        return None
    kind = options.screen or screen_kind(one_row=options.one_row)
    if options.screen is not None and not screen_works(kind):
        raise ValueError(f"the {kind} screen does not run on this CPU; choose another, or None")
    return embedding.screened(model.tokenizer.timestamp_begin, kind) if kind else None


def ranked(score: float, length: int, length_penalty: float | None) -> float:
    """openai-whisper's ranking of finished hypotheses: the sum of log-probabilities over the
    length, or over Google NMT's ((5 + length) / 6) ** alpha."""
    penalty = length if length_penalty is None else ((5 + length) / 6) ** length_penalty
    return score / max(penalty, 1e-9)


def rank_in(kept: dict, length_penalty: float | None, hypothesis: tuple[int, ...]) -> float:
    return ranked(kept[hypothesis], len(hypothesis), length_penalty)


def likeliest_of_each(out: Generated, n: int, length_penalty: float | None) -> Generated:
    """openai-whisper's best_of: of each row's n draws (rows row * n ... row * n + n - 1), the
    one with the best `ranked` log-probability."""
    best = [
        max(range(row, row + n), key=lambda i: ranked(out.sum_logprobs[i], len(out.tokens[i]),
                                                      length_penalty))
        for row in range(0, len(out.tokens), n)
    ]  # fmt: skip
    return Generated(
        [out.tokens[i] for i in best],
        [out.sum_logprobs[i] for i in best],
        [out.ended[i] for i in best],
    )


def beam_search(
    model: WhisperModel,
    cache: KVCache,
    logits: Tensor,
    limits: list[int],
    options: DecodingOptions,
    forced: Sequence[int] = (),
) -> Generated:
    """Beam search, each row its own. As openai-whisper: beam_size hypotheses per row, each
    extended by its beam_size + 1 likeliest tokens (suppression and timestamp rules applied
    first); the best beam_size unfinished candidates go on and the finished ones ranked above
    the last of them are kept (the best beam_size * patience by `ranked`); the best kept
    hypothesis wins (unfinished ones fill in at the length limit). As transformers, a row
    stops when no running beam can outrank the worst kept one, not at the first beam_size
    finishes (openai's rule stopped base before "Hester Prynne" finished on a fixture); with
    that, the tokens equal transformers' `generate(num_beams=5)` on the fixtures (tested).
    The rows' self-attention caches are reordered as beams are chosen; a row's beams read its
    cross-attention K/V, shared, not copied (`KVCache.with_beams`)."""
    tokenizer, decoder, eot = model.tokenizer, model.network.decoder, model.tokenizer.eot
    width, batch = options.beam_size, logits.shape[0]
    wanted = round(width * (options.patience or 1.0))
    beams = cache.with_beams(width)
    since = int(beams.positions.min())  # the prompts end here: the beams differ only after
    logits = logits.repeat_interleave(width, dim=0)
    always, first = suppression(model, options)
    hypotheses: list[tuple[int, ...]] = [()] * (batch * width)
    sums = [0.0] * (batch * width)
    finished: list[dict[tuple[int, ...], float]] = [{} for _ in range(batch)]
    done = [False] * batch
    for step in range(max(limits)):
        logits = penalized(logits, hypotheses, forced, options)
        logits = logits + (first if step == 0 else always)
        if options.timestamps:
            logprobs = apply_timestamp_rules(
                logits, hypotheses, tokenizer.timestamp_begin, eot, after_prefix=bool(forced),
                max_initial=options.max_initial_timestamp,
            )  # fmt: skip
        else:
            logprobs = logits.float().log_softmax(dim=-1)
        top_logprobs, top_tokens = logprobs.topk(width + 1)
        top_logprobs, top_tokens = top_logprobs.tolist(), top_tokens.tolist()
        sources = list(range(batch * width))
        for row in range(batch):
            if done[row]:
                continue
            scores, origin = {}, {}
            for beam in range(row * width, (row + 1) * width):
                for logprob, token in zip(top_logprobs[beam], top_tokens[beam]):
                    candidate = (*hypotheses[beam], token)
                    scores[candidate] = sums[beam] + logprob
                    origin[candidate] = beam
            going, finishing = [], {}  # candidates ranked below the last one kept are dropped
            for candidate in sorted(scores, key=scores.get, reverse=True):
                if candidate[-1] == eot:
                    finishing[candidate[:-1]] = scores[candidate]
                else:
                    going.append(candidate)
                    if len(going) == width:
                        break
            kept = finished[row]
            rank = partial(rank_in, kept, options.length_penalty)
            for candidate, score in finishing.items():
                kept[candidate] = score
                if len(kept) > wanted:  # keep the best `wanted` by rank
                    del kept[min(kept, key=rank)]
            for beam, candidate in zip(range(row * width, (row + 1) * width), going):
                sources[beam] = origin[candidate]
                hypotheses[beam], sums[beam] = candidate, scores[candidate]
            best_running = max(ranked(sums[b], step + 1, options.length_penalty)
                               for b in range(row * width, (row + 1) * width))  # fmt: skip
            outranked = len(kept) >= wanted and best_running <= min(map(rank, kept))
            done[row] = outranked or step + 1 >= limits[row]
        if all(done):
            break
        beams.reorder(sources, since)
        last = torch.tensor([h[-1] if h else eot for h in hypotheses], device=logits.device)
        logits = decoder(last[:, None], beams, options.backend)[:, -1]
    tokens, sum_logprobs, ended = [], [], []
    for row in range(batch):
        candidates = dict(finished[row])
        ends = {candidate: True for candidate in candidates}
        running = range(row * width, (row + 1) * width)
        for beam in sorted(running, key=lambda b: sums[b], reverse=True):
            if len(candidates) >= width:
                break
            candidates.setdefault(hypotheses[beam], sums[beam])
            ends.setdefault(hypotheses[beam], False)
        best = max(candidates, key=lambda c: ranked(candidates[c], len(c), options.length_penalty))
        tokens.append(list(best))
        sum_logprobs.append(candidates[best])
        ended.append(ends[best])
    return Generated(tokens, sum_logprobs, ended)


@torch.inference_mode()
def decode(
    model: WhisperModel,
    audio: EncoderOutput | Tensor,
    options: DecodingOptions = DecodingOptions(),
    previous: list[list[int]] | None = None,
    languages: list[str | None] | None = None,
    generators: list[torch.Generator] | None = None,
    speech_until: list[int | None] | None = None,
    token_limits: list[int | None] | None = None,
    cross_kv: list | None = None,
) -> list[DecodingResult]:
    """Decode each row of the encoder's output; `previous` holds each row's prior text tokens
    (the <|startofprev|> prompt), `languages` each row's language (else from `options`),
    `generators` each row's random generator for sampling (temperature > 0); with
    `options.best_of` = n, n generators per row (row after row), one per draw; `speech_until`
    each row's bound on ending the text (timestamps; None: none; `apply_timestamp_rules`);
    `token_limits` each row's own limit of new tokens under `options.max_new_tokens` (None:
    that alone). `cross_kv`, a list, receives each row's cross-attention K/V, [(K, V)] per block
    (views of the decoding cache's), so that a second pass over the same audio (the word
    aligner's) need not project them again.

    Each row is decoded as if alone: its prompt, its length limit, its draws and its numbers
    do not depend on the other rows (tests/test_transcribe.py checks tokens alone and batched)."""
    if not isinstance(model, WhisperModel):
        raise TypeError(
            "decode needs the WhisperModel that load_model returns (network + tokenizer)"
        )
    if isinstance(audio, Tensor):
        audio = EncoderOutput(audio, None)
    batch = audio.features.shape[0]
    previous = previous or [[]] * batch
    languages = languages or resolve_languages(model, audio, options)
    forced = forced_tokens(model, options)
    prompts = [
        prompt_of(model, p, language, options, forced) for p, language in zip(previous, languages)
    ]
    cap = options.max_new_tokens or model.dims.n_text_ctx // 2
    limits = [min(cap, model.dims.n_text_ctx - len(prompt)) for prompt in prompts]
    own_limits = token_limits or [None] * batch
    if len(own_limits) != batch or any(own is not None and own < 1 for own in own_limits):
        raise ValueError(
            f"token_limits takes one limit (>= 1, or None) per row: {batch} rows, "
            f"got {token_limits}"
        )
    stopped_by_own = [own is not None and own < limit for own, limit in zip(own_limits, limits)]
    limits = [limit if own is None else min(limit, own) for limit, own in zip(limits, own_limits)]

    with one_row_run(options.one_row):
        cache = model.network.decoder.new_cache(audio)
        after_sot, after_prompt = run_prompts(model, cache, prompts, options.backend)
        no_speech_probs = after_sot.softmax(dim=-1)[:, model.tokenizer.special["<|nospeech|>"]]
        no_speech_probs = no_speech_probs.tolist()
        # The silence rule reads the no-speech probability without the previous-text prompt too.
        prompted = [row for row, p in enumerate(previous) if p]
        alone = list(no_speech_probs)
        if prompted:
            found = no_speech_alone(model, cache, prompted, options.backend)
            for row, probability in zip(prompted, found):
                alone[row] = probability

        draws = options.best_of or 1
        until = speech_until if speech_until and any(u is not None for u in speech_until) else None
        if options.beam_size is not None and options.temperature == 0:
            out = beam_search(model, cache, after_prompt, limits, options, forced)
        elif options.temperature > 0 and draws > 1:  # each row's draws share its prompt's cache
            out = generate(
                model, cache.with_beams(draws), after_prompt.repeat_interleave(draws, dim=0),
                [limit for limit in limits for _ in range(draws)], options, generators,
                None if until is None else [u for u in until for _ in range(draws)], forced,
            )  # fmt: skip
            out = likeliest_of_each(out, draws, options.length_penalty)
        else:
            out = generate(model, cache, after_prompt, limits, options, generators, until, forced)
    if cross_kv is not None:
        place = {row: p for p, row in enumerate(out.rows_at or range(batch))}
        cross_kv += [
            [(k[place[row]][None], v[place[row]][None]) for k, v in cache.cross_kv]
            for row in range(batch)
        ]
    return [
        DecodingResult(
            tokens=forced + tokens,  # a prefix is part of the text, as faster-whisper's
            text=model.tokenizer.decode(forced + tokens).strip(),
            language=languages[row],
            avg_logprob=out.sum_logprobs[row] / (len(tokens) + 1),
            no_speech_prob=no_speech_probs[row],
            no_speech_prob_alone=alone[row],
            temperature=options.temperature,
            hit_max_length=not out.ended[row],
            hit_token_limit=stopped_by_own[row] and not out.ended[row],
        )
        for row, tokens in enumerate(out.tokens)
    ]
