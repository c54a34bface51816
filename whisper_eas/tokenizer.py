"""Whisper's tokenizer: byte-level BPE (GPT-2 style) through tiktoken, built from the
checkpoint's own vocabulary, plus Whisper's special tokens at their exact ids.

Vocabulary layout (ids in order): the BPE ranks (50256 English-only, 50257 multilingual),
then <|endoftext|>, <|startoftranscript|>, one token per language, <|translate|>,
<|transcribe|>, <|startoflm|>, <|startofprev|>, <|nospeech|>, <|notimestamps|>, and the
1501 timestamps <|0.00|> ... <|30.00|>. Only the number of languages varies (99, or 100 from
large-v3 on, which added Cantonese), and it follows from the model's vocabulary size.
"""

import json
from functools import cached_property
from itertools import accumulate
from pathlib import Path

import tiktoken

# Whisper's language order fixes the language token ids: <|en|> is sot + 1, and so on.
LANGUAGE_NAMES = {  # code -> English name, in Whisper's order
    "en": "english",
    "zh": "chinese",
    "de": "german",
    "es": "spanish",
    "ru": "russian",
    "ko": "korean",
    "fr": "french",
    "ja": "japanese",
    "pt": "portuguese",
    "tr": "turkish",
    "pl": "polish",
    "ca": "catalan",
    "nl": "dutch",
    "ar": "arabic",
    "sv": "swedish",
    "it": "italian",
    "id": "indonesian",
    "hi": "hindi",
    "fi": "finnish",
    "vi": "vietnamese",
    "he": "hebrew",
    "uk": "ukrainian",
    "el": "greek",
    "ms": "malay",
    "cs": "czech",
    "ro": "romanian",
    "da": "danish",
    "hu": "hungarian",
    "ta": "tamil",
    "no": "norwegian",
    "th": "thai",
    "ur": "urdu",
    "hr": "croatian",
    "bg": "bulgarian",
    "lt": "lithuanian",
    "la": "latin",
    "mi": "maori",
    "ml": "malayalam",
    "cy": "welsh",
    "sk": "slovak",
    "te": "telugu",
    "fa": "persian",
    "lv": "latvian",
    "bn": "bengali",
    "sr": "serbian",
    "az": "azerbaijani",
    "sl": "slovenian",
    "kn": "kannada",
    "et": "estonian",
    "mk": "macedonian",
    "br": "breton",
    "eu": "basque",
    "is": "icelandic",
    "hy": "armenian",
    "ne": "nepali",
    "mn": "mongolian",
    "bs": "bosnian",
    "kk": "kazakh",
    "sq": "albanian",
    "sw": "swahili",
    "gl": "galician",
    "mr": "marathi",
    "pa": "punjabi",
    "si": "sinhala",
    "km": "khmer",
    "sn": "shona",
    "yo": "yoruba",
    "so": "somali",
    "af": "afrikaans",
    "oc": "occitan",
    "ka": "georgian",
    "be": "belarusian",
    "tg": "tajik",
    "sd": "sindhi",
    "gu": "gujarati",
    "am": "amharic",
    "yi": "yiddish",
    "lo": "lao",
    "uz": "uzbek",
    "fo": "faroese",
    "ht": "haitian creole",
    "ps": "pashto",
    "tk": "turkmen",
    "nn": "nynorsk",
    "mt": "maltese",
    "sa": "sanskrit",
    "lb": "luxembourgish",
    "my": "myanmar",
    "bo": "tibetan",
    "tl": "tagalog",
    "mg": "malagasy",
    "as": "assamese",
    "tt": "tatar",
    "haw": "hawaiian",
    "ln": "lingala",
    "ha": "hausa",
    "ba": "bashkir",
    "jw": "javanese",
    "su": "sundanese",
    "yue": "cantonese",
}
LANGUAGES = tuple(LANGUAGE_NAMES)
# Other names openai-whisper's CLI accepts for some of them.
LANGUAGE_ALIASES = {
    "burmese": "my",
    "valencian": "ca",
    "flemish": "nl",
    "haitian": "ht",
    "letzeburgesch": "lb",
    "pushto": "ps",
    "panjabi": "pa",
    "moldavian": "ro",
    "moldovan": "ro",
    "sinhalese": "si",
    "castilian": "es",
    "mandarin": "zh",
}


def language_code(language: str) -> str:
    """A language code from a code or an English name, any case ("English", "en" -> "en")."""
    key = language.strip().lower()
    if key in LANGUAGE_NAMES:
        return key
    by_name = {name: code for code, name in LANGUAGE_NAMES.items()} | LANGUAGE_ALIASES
    if key in by_name:
        return by_name[key]
    raise ValueError(
        f"unknown language {language!r}: give a code (en, de, ...) or a name (English)"
    )


N_TIMESTAMPS = 1501  # 0.00 s to 30.00 s in steps of 20 ms
TASKS = ("transcribe", "translate")

# GPT-2's pre-tokenizer: contractions, letters, digits, other symbols, whitespace.
GPT2_PATTERN = r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""


def special_token_names(n_languages: int) -> list[str]:
    """Whisper's special tokens in id order, starting at the first id after the BPE ranks."""
    return [
        "<|endoftext|>",
        "<|startoftranscript|>",
        *(f"<|{code}|>" for code in LANGUAGES[:n_languages]),
        "<|translate|>",
        "<|transcribe|>",
        "<|startoflm|>",
        "<|startofprev|>",
        "<|nospeech|>",
        "<|notimestamps|>",
        *(f"<|{i * 0.02:.2f}|>" for i in range(N_TIMESTAMPS)),
    ]


def _byte_level_alphabet() -> dict[str, int]:
    """GPT-2 stores bytes as printable characters: printable Latin-1 bytes stand for
    themselves, the other 68 bytes are shifted to code points 256 and up, in byte order."""
    printable = [
        *range(ord("!"), ord("~") + 1),
        *range(ord("¡"), ord("¬") + 1),
        *range(ord("®"), ord("ÿ") + 1),
    ]
    alphabet = {chr(b): b for b in printable}
    shifted = (b for b in range(256) if b not in alphabet.values())
    alphabet.update({chr(256 + i): b for i, b in enumerate(shifted)})
    return alphabet


def read_vocabulary(folder: Path) -> dict[str, int]:
    """The BPE vocabulary (token text -> id) of a checkpoint folder (tokenizer.json or
    vocab.json)."""
    if (folder / "tokenizer.json").is_file():
        tokenizer = json.loads((folder / "tokenizer.json").read_text(encoding="utf-8"))
        specials = {t["content"] for t in tokenizer.get("added_tokens", [])}
        return {text: i for text, i in tokenizer["model"]["vocab"].items() if text not in specials}
    if (folder / "vocab.json").is_file():
        vocab = json.loads((folder / "vocab.json").read_text(encoding="utf-8"))
        return {
            text: i
            for text, i in vocab.items()
            if not (text.startswith("<|") and text.endswith("|>"))
        }
    raise FileNotFoundError(f"no tokenizer.json or vocab.json in {folder}")


class Tokenizer:
    """Text <-> ids for one Whisper vocabulary, with named special-token ids."""

    def __init__(self, vocabulary: dict[str, int], n_vocab: int):
        alphabet = _byte_level_alphabet()
        joined = "".join(vocabulary)
        strangers = set(joined) - alphabet.keys()
        if strangers:
            raise ValueError(
                f"BPE vocabulary has characters outside GPT-2's byte alphabet: {sorted(strangers)}"
            )
        # Each character to its byte, for all tokens at once, in C, then cut at the tokens'
        # ends (a character is one byte): a process's start spent 0.1 s on this token by token.
        to_latin1 = {ord(ch): byte for ch, byte in alphabet.items()}
        raw = joined.translate(to_latin1).encode("latin-1")
        ends = list(accumulate(map(len, vocabulary)))
        tokens = map(raw.__getitem__, map(slice, [0, *ends], ends))
        ranks = dict(zip(tokens, vocabulary.values()))
        if sorted(ranks.values()) != list(range(len(ranks))):
            raise ValueError("BPE vocabulary ids are not contiguous from 0")
        self.n_languages = n_vocab - len(ranks) - 8 - N_TIMESTAMPS
        if not 0 < self.n_languages <= len(LANGUAGES):
            raise ValueError(
                f"vocabulary of {len(ranks)} BPE tokens does not fit a Whisper model "
                f"with n_vocab={n_vocab}"
            )
        names = special_token_names(self.n_languages)
        self.special = {name: len(ranks) + i for i, name in enumerate(names)}
        self.encoding = tiktoken.Encoding(
            "whisper", pat_str=GPT2_PATTERN, mergeable_ranks=ranks, special_tokens=self.special
        )
        self.eot = self.special["<|endoftext|>"]
        self.sot = self.special["<|startoftranscript|>"]
        self.no_timestamps = self.special["<|notimestamps|>"]
        self.timestamp_begin = self.special["<|0.00|>"]
        self.languages = LANGUAGES[: self.n_languages]
        self.multilingual = len(ranks) > 50256  # English-only GPT-2 ranks stop at 50255

    @classmethod
    def from_folder(cls, folder: str | Path, n_vocab: int) -> "Tokenizer":
        return cls(read_vocabulary(Path(folder)), n_vocab)

    def encode(self, text: str) -> list[int]:
        """Plain text to BPE ids; special-token text is encoded as ordinary characters."""
        return self.encoding.encode_ordinary(text)

    def decode(self, ids: list[int]) -> str:
        """Ids to text, dropping every special token."""
        return self.encoding.decode([i for i in ids if i < self.eot])

    def language_token(self, language: str) -> int:
        if language not in self.languages:
            raise ValueError(
                f"unknown language {language!r}; this model knows {', '.join(self.languages)}"
            )
        return self.special[f"<|{language}|>"]

    def sot_sequence(
        self, language: str | None = "en", task: str = "transcribe", timestamps: bool = False
    ) -> list[int]:
        """The decoder's prompt: <|startoftranscript|> [<|lang|> <|task|>] [<|notimestamps|>]."""
        if task not in TASKS:
            raise ValueError(f"unknown task {task!r}; choose one of {TASKS}")
        tokens = [self.sot]
        if self.multilingual:
            if language is None:
                raise ValueError(
                    "a multilingual model's prompt needs a language (or detect it first)"
                )
            tokens += [self.language_token(language), self.special[f"<|{task}|>"]]
        return tokens if timestamps else tokens + [self.no_timestamps]

    @property
    def control_tokens(self) -> tuple[int, ...]:
        """Task and prompt tokens that no transcript contains (always suppressed)."""
        names = ("<|translate|>", "<|transcribe|>", "<|startoftranscript|>", "<|startofprev|>",
                 "<|startoflm|>", "<|nospeech|>")  # fmt: skip
        return tuple(self.special[name] for name in names)

    @cached_property
    def non_speech_tokens(self) -> tuple[int, ...]:
        """Ids of symbols Whisper never emits as speech (the suppress list used when a
        checkpoint does not carry one): brackets, music notes, speaker-turn marks, ..."""
        symbols = list('"#()*+/:;<=>@[\\]^_`{|}~「」『』')
        symbols += "<< >> <<< >>> -- --- -( -[ (' (\" (( )) ((( )))".split()
        symbols += "[[ ]] {{ }} ♪♪ ♪♪♪".split()
        # Multi-byte symbols whose first byte is a token of its own: suppress that byte.
        partial = set("♩♪♫♬♭♮♯")
        ids = {self.encode(" -")[0], self.encode(" '")[0]}
        for symbol in symbols + sorted(partial):
            for tokens in (self.encode(symbol), self.encode(" " + symbol)):
                if len(tokens) == 1 or symbol in partial:
                    ids.add(tokens[0])
        return tuple(sorted(ids))
