import json

import pytest
from transformers import WhisperTokenizer, WhisperTokenizerFast

from whisper_eas.tokenizer import LANGUAGES, Tokenizer, read_vocabulary

TEXTS = [
    "Hello world!",
    " And so, my fellow Americans: ask not what your country can do for you.",
    "naïve café 日本語の文章 ♪♪ 1234567 don't   spaces\n\ttabs",
    "ÆØÅ ¿Qué tal? Ünïcödé — dash… 'quoted' \"double\" (parens) [brackets] {braces}",
    "MISTER QUILTER IS THE APOSTLE OF THE MIDDLE CLASSES",
    "   leading and trailing spaces   ",
    "Emoji 🙂🚀 and math ∑ ∫ √2 ≈ 1.414",
]
N_VOCAB = {"tiny.en": 51864, "base": 51865}


@pytest.fixture(scope="module", params=["tiny.en", "base"])
def pair(request, hf_folder):
    folder = hf_folder[request.param]
    return (
        Tokenizer.from_folder(folder, N_VOCAB[request.param]),
        WhisperTokenizerFast.from_pretrained(folder),
        folder,
    )


def test_ids_equal_transformers_on_varied_text(pair):
    ours, theirs, _ = pair
    for text in TEXTS:
        assert ours.encode(text) == theirs.encode(text, add_special_tokens=False), text
        assert ours.decode(ours.encode(text)) == text


def test_ids_equal_slow_transformers_tokenizer(pair, tmp_path):
    """HF's slow tokenizer runs its own pure-Python BPE over vocab.json + merges.txt."""
    ours, _, folder = pair
    content = json.loads((folder / "tokenizer.json").read_text())
    (tmp_path / "vocab.json").write_text(json.dumps(content["model"]["vocab"]))
    merges = [m if isinstance(m, str) else " ".join(m) for m in content["model"]["merges"]]
    (tmp_path / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges) + "\n")
    slow = WhisperTokenizer(str(tmp_path / "vocab.json"), str(tmp_path / "merges.txt"))
    for text in TEXTS:
        assert ours.encode(text) == slow.encode(text, add_special_tokens=False), text


def test_special_token_ids_equal_transformers(pair):
    ours, theirs, _ = pair
    # Older English-only exports name two tokens by their former names.
    former_names = {"<|nospeech|>": "<|nocaptions|>", "<|he|>": "<|iw|>"}
    for name, token_id in ours.special.items():
        assert theirs.convert_ids_to_tokens(token_id) in (name, former_names.get(name)), name
    assert ours.special["<|30.00|>"] == N_VOCAB["base" if ours.multilingual else "tiny.en"] - 1


def test_prompt_equals_transformers(pair):
    ours, theirs, _ = pair
    if ours.multilingual:
        theirs.set_prefix_tokens(language="french", task="translate", predict_timestamps=False)
        assert ours.sot_sequence("fr", "translate") == theirs.prefix_tokens
    else:
        assert ours.sot_sequence(None) == [ours.sot, ours.no_timestamps]


def test_layouts():
    english = {t: i for t, i in read_vocabulary_stub(50256).items()}
    tok = Tokenizer(english, 51864)
    assert (tok.eot, tok.sot, tok.no_timestamps, tok.timestamp_begin) == (
        50256,
        50257,
        50362,
        50363,
    )
    assert not tok.multilingual and tok.n_languages == 99
    multilingual = read_vocabulary_stub(50257)
    tok = Tokenizer(multilingual, 51865)
    assert (tok.eot, tok.sot, tok.no_timestamps, tok.timestamp_begin) == (
        50257,
        50258,
        50363,
        50364,
    )
    large_v3 = Tokenizer(multilingual, 51866)  # 100 languages: Cantonese added last
    assert large_v3.language_token("yue") == 50358 and large_v3.special["<|transcribe|>"] == 50360
    assert large_v3.special["<|30.00|>"] == 51865 and len(LANGUAGES) == 100


def read_vocabulary_stub(size: int) -> dict[str, int]:
    """A byte-level vocabulary of the right size: the 256 byte symbols, then filler merges."""
    from whisper_eas.tokenizer import _byte_level_alphabet

    symbols = sorted(_byte_level_alphabet(), key=lambda ch: _byte_level_alphabet()[ch])
    vocab = {ch: i for i, ch in enumerate(symbols)}
    for i in range(256, size):
        vocab[f"t{i}"] = i
    return vocab


def test_bad_inputs(pair):
    ours, _, _ = pair
    with pytest.raises(ValueError, match="task"):
        ours.sot_sequence("en", "summarize")
    if ours.multilingual:
        with pytest.raises(ValueError, match="unknown language 'klingon'"):
            ours.sot_sequence("klingon")
    with pytest.raises(ValueError, match="does not fit"):
        Tokenizer(read_vocabulary_stub(50257), 50000)
    spaced = read_vocabulary_stub(50257)  # a raw space is no byte-level character
    spaced["a b"] = spaced.pop("t300")
    with pytest.raises(ValueError, match=r"outside GPT-2's byte alphabet: \[' '\]"):
        Tokenizer(spaced, 50257 + 1509)


def test_folder_without_vocabulary(tmp_path):
    with pytest.raises(FileNotFoundError, match="tokenizer.json or vocab.json"):
        read_vocabulary(tmp_path)
