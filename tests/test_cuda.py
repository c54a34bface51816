"""The CUDA path against transformers on the same GPU, and against our own CPU path.

Skipped where CUDA is absent (CI has no GPU). WHISPER_EAS_CUDA_MODEL names the checkpoint
(default tiny.en: a GPU box may lack the bundled weight packages, so a converted HF folder can
be given instead). Run with `pytest tests/test_cuda.py -rA`."""

import os

import pytest
import torch
from conftest import FIXTURES

from whisper_eas import EASConfig, load_audio, load_model, transcribe

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
CHECKPOINT = os.environ.get("WHISPER_EAS_CUDA_MODEL", "tiny.en")
# WHISPER_EAS_CUDA_GRAPHS=0 runs these tests on eager decoding steps (`cuda_step`).
GRAPHS = os.environ.get("WHISPER_EAS_CUDA_GRAPHS", "1") != "0"


@pytest.fixture(scope="module")
def on_gpu():
    models = {dtype: load_model(CHECKPOINT, device="cuda", dtype=dtype)
              for dtype in ("float32", "float16")}  # fmt: skip
    for model in models.values():
        model.network.decoder.cuda_graphs = GRAPHS
    return models


@pytest.fixture(scope="module")
def on_cpu():
    return load_model(CHECKPOINT)


@pytest.fixture(scope="module")
def reference():
    """transformers' model on the same GPU, float32 and float16, and its feature extractor."""
    from transformers import WhisperFeatureExtractor, WhisperForConditionalGeneration

    from whisper_eas.hub import resolve

    folder = resolve(CHECKPOINT)
    models = {
        name: WhisperForConditionalGeneration.from_pretrained(
            folder, attn_implementation="sdpa", dtype=dtype
        )
        .to("cuda")
        .eval()
        for name, dtype in (("float32", torch.float32), ("float16", torch.float16))
    }
    return models, WhisperFeatureExtractor.from_pretrained(folder)


def reference_tokens(reference, clip, dtype, tokenizer):
    """transformers' greedy text tokens (its prompt and end token taken off: versions differ
    in whether `generate` returns the prompt)."""
    models, extractor = reference
    features = extractor(load_audio(clip), sampling_rate=16000, return_tensors="pt").input_features
    prompt = tokenizer.sot_sequence("en" if tokenizer.multilingual else None)
    language = {"language": "en", "task": "transcribe"} if tokenizer.multilingual else {}
    with torch.inference_mode():
        generated = models[dtype].generate(
            features.to("cuda", models[dtype].dtype), max_new_tokens=224, **language
        )
    sequence = generated[0].tolist()
    sequence = sequence[len(prompt) :] if sequence[: len(prompt)] == prompt else sequence
    return sequence[:-1] if sequence and sequence[-1] == tokenizer.eot else sequence


@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_greedy_tokens_equal_transformers_on_the_same_gpu(on_gpu, reference, dtype):
    model = on_gpu[dtype]
    results = transcribe(model, [str(clip) for clip in FIXTURES], timestamps=False)
    for clip, result in zip(FIXTURES, results):
        assert result.tokens == reference_tokens(reference, clip, dtype, model.tokenizer), clip.name


def test_cuda_float32_long_form_equals_cpu(on_gpu, on_cpu):
    """Same algorithm, same weights: the GPU's long-form transcripts are the CPU's (timestamps,
    fallbacks and words included)."""
    clips = [str(clip) for clip in FIXTURES]
    for eas in (None, EASConfig.recommended("tiny.en")):
        gpu = transcribe(on_gpu["float32"], clips, eas=eas, word_timestamps=True)
        cpu = transcribe(on_cpu, clips, eas=eas, word_timestamps=True)
        for clip, g, c in zip(FIXTURES, gpu, cpu):
            assert g.tokens == c.tokens and g.fallbacks == c.fallbacks, (clip.name, eas)
            assert g.kept_tokens == c.kept_tokens, (clip.name, eas)
            words = [(w, v) for s, t in zip(g.segments, c.segments)
                     for w, v in zip(s.words, t.words)]  # fmt: skip
            assert all(w.word == v.word and abs(w.start - v.start) <= 0.02 for w, v in words)


@pytest.mark.parametrize("dtype, eas", [("float32", None), ("float32", "recommended"),
                                        ("float16", None), ("float16", "recommended")])  # fmt: skip
def test_a_files_tokens_on_the_gpu_are_the_same_alone_and_in_a_batch_of_eight(on_gpu, dtype, eas):
    from test_transcribe import batch_of_eight

    model, inputs = on_gpu[dtype], batch_of_eight()
    eas = EASConfig.recommended("tiny.en") if eas else None
    together = transcribe(model, inputs, eas=eas, batch_size=8, max_parts=1)  # each file whole
    for i, wave in enumerate(inputs):
        alone = transcribe(model, wave, eas=eas, batch_size=1)
        assert together[i].tokens == alone.tokens, i
        assert together[i].fallbacks == alone.fallbacks, i


def test_a_windows_encoder_features_on_the_gpu_are_its_own_in_a_batch(on_gpu):
    """`windows.encode` runs one window at a time on every device, so a window's features are
    the same bits alone and among seven others. Batched on an H200 they were up to 0.3 apart
    in float16 (base), and one of the eight files got other tokens (README, "On a GPU")."""
    from test_transcribe import batch_of_eight

    from whisper_eas.windows import Window, encode, file_mel

    for dtype in ("float32", "float16"):
        model = on_gpu[dtype]
        windows = [Window(file_mel(wave, model.dims.n_mels)[:, :3000], min(len(wave), 480_000))
                   for wave in batch_of_eight()]  # fmt: skip
        together = encode(model, windows, None).features
        for row, window in enumerate(windows):
            assert torch.equal(encode(model, [window], None).features[0], together[row]), row


def test_one_file_cut_into_parts_on_the_gpu_equals_the_cpu(on_gpu, on_cpu):
    """The default for one long file (cut at pauses, the parts decoded side by side) gives the
    CPU's segments on the GPU, float32: the same cuts, tokens and fallbacks."""
    import numpy as np

    audio = np.concatenate([load_audio(f) for f in FIXTURES])  # 55 s: cut into parts
    gpu, cpu = transcribe(on_gpu["float32"], audio), transcribe(on_cpu, audio)
    assert gpu.parts == cpu.parts > 1
    assert gpu.tokens == cpu.tokens and gpu.fallbacks == cpu.fallbacks
    starts = [(s.start, t.start) for s, t in zip(gpu.segments, cpu.segments)]
    assert all(abs(a - b) <= 0.02 for a, b in starts)


def test_beam_search_on_the_gpu_equals_the_cpu(on_gpu, on_cpu):
    clips = [str(clip) for clip in FIXTURES[:3]]
    gpu = transcribe(on_gpu["float32"], clips, beam_size=5)
    cpu = transcribe(on_cpu, clips, beam_size=5)
    assert [r.tokens for r in gpu] == [r.tokens for r in cpu]


def test_vad_filter_runs_with_a_gpu_model(on_gpu):
    import numpy as np

    wave = load_audio(FIXTURES[0])
    padded = np.concatenate([np.zeros(160_000, np.float32), wave, np.zeros(160_000, np.float32)])
    result = transcribe(on_gpu["float32"], padded, vad_filter=True, word_timestamps=True)
    words = [w for s in result.segments for w in s.words]
    assert words and words[0].start >= 9.5 and words[-1].end <= 10.5 + len(wave) / 16000


@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_steps_replayed_from_cuda_graphs_are_the_eager_steps(on_gpu, dtype, monkeypatch):
    """A replayed step launches the eager step's kernels on the same shapes: the same tokens
    and log-probabilities, bit for bit, without EAS and with rows of several kept counts, and
    through fallbacks (sampling). Replayed steps keep a batch's finished rows, and on a GPU a
    row's last bits depend on how many rows share its products, so the bits are compared with
    eager steps that keep them too; the tokens also with eager steps that drop them."""
    from test_transcribe import batch_of_eight

    from whisper_eas import Truncate, decoding

    model, inputs = on_gpu[dtype], batch_of_eight()

    def run(graphs: bool, drop_finished: float) -> list:
        model.network.decoder.cuda_graphs = graphs
        monkeypatch.setattr(decoding, "DROP_FINISHED", drop_finished)
        try:
            return [transcribe(model, inputs, eas=eas, batch_size=8, max_parts=1)
                    for eas in (None, EASConfig(1, Truncate(300)))]  # fmt: skip
        finally:
            model.network.decoder.cuda_graphs = GRAPHS

    dropping, keeping, graphed = run(False, 0.25), run(False, 2.0), run(True, 0.25)
    for runs in zip(dropping, keeping, graphed):
        for d, k, g in zip(*runs):
            assert g.tokens == k.tokens == d.tokens and g.fallbacks == k.fallbacks == d.fallbacks
            assert [s.avg_logprob for s in g.segments] == [s.avg_logprob for s in k.segments]
            assert g.kept_tokens == k.kept_tokens
