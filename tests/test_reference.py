"""Our model against transformers' WhisperForConditionalGeneration on the same weights
(the bundled OpenAI checkpoints, converted by us to HF layout) and real speech."""

import pytest
import torch
from conftest import FIXTURES
from transformers import WhisperFeatureExtractor, WhisperForConditionalGeneration

from whisper_eas import load_audio, transcribe

# fp32 roundoff only: on CPU our linear layers run on oneDNN (model.linear), which sums in
# another order than transformers' MKL products; logits reach ~30, differences ~1e-4.
TOLERANCE = 1e-4  # absolute, plus RELATIVE_TOLERANCE x the largest |logit|
RELATIVE_TOLERANCE = 1e-5


@pytest.fixture(
    scope="module",
    params=[("tiny.en", "eager"), ("tiny.en", "sdpa"), ("base", "eager"), ("base", "sdpa")],
    ids=str,
)
def setup(request, models, hf_folder):
    name, backend = request.param
    folder = hf_folder[name]
    reference = WhisperForConditionalGeneration.from_pretrained(
        folder, attn_implementation=backend
    ).eval()
    return models[name], reference, WhisperFeatureExtractor.from_pretrained(folder), backend


def reference_generate(reference, features, multilingual):
    kwargs = {"language": "en", "task": "transcribe"} if multilingual else {}
    with torch.inference_mode():
        return reference.generate(
            features, output_logits=True, return_dict_in_generate=True, max_new_tokens=224, **kwargs
        )


@pytest.mark.parametrize("clip", FIXTURES[:3], ids=lambda p: p.name)
def test_logits_equal_transformers_at_every_step(setup, clip):
    """Same attention kernel on both sides (eager vs eager, SDPA vs SDPA); each decoding
    step of our KV-cached decoder against transformers' own cached step."""
    ours, reference, extractor, backend = setup
    features = torch.from_numpy(
        extractor(load_audio(clip), sampling_rate=16000, return_tensors="np").input_features
    )
    generated = reference_generate(reference, features, ours.tokenizer.multilingual)
    sequence = generated.sequences[0].tolist()
    prompt = ours.tokenizer.sot_sequence("en" if ours.tokenizer.multilingual else None)
    assert sequence[: len(prompt)] == prompt
    with torch.inference_mode():
        cache = ours.network.decoder.new_cache(ours.network.encoder(features, backends=backend))
        steps = [ours.network.decoder(torch.tensor([prompt]), cache, backend)[0, -1]]
        steps += [
            ours.network.decoder(torch.tensor([[token]]), cache, backend)[0, 0]
            for token in sequence[len(prompt) : -2]
        ]
    ours_logits, reference_logits = torch.stack(steps), torch.cat(generated.logits)[: len(steps)]
    assert len(steps) == len(sequence) - len(prompt) - 1 >= 5
    worst = (ours_logits - reference_logits).abs().max().item()
    allowed = TOLERANCE + RELATIVE_TOLERANCE * reference_logits.abs().max().item()
    assert worst <= allowed, (
        f"max abs logit difference {worst:.3e} (allowed {allowed:.1e}) over {len(steps)} steps"
    )


def test_greedy_transcripts_equal_transformers(setup):
    ours, reference, extractor, backend = setup
    results = transcribe(ours, [str(clip) for clip in FIXTURES], timestamps=False, backends=backend)
    for clip, result in zip(FIXTURES, results):
        features = torch.from_numpy(
            extractor(load_audio(clip), sampling_rate=16000, return_tensors="np").input_features
        )
        sequence = (
            reference_generate(reference, features, ours.tokenizer.multilingual)
            .sequences[0]
            .tolist()
        )
        prompt_length = len(
            ours.tokenizer.sot_sequence("en" if ours.tokenizer.multilingual else None)
        )
        assert result.tokens == sequence[prompt_length:-1], clip.name


@pytest.mark.parametrize("name", ["tiny.en", "base"])
def test_word_timestamps_agree_with_transformers(models, hf_folder, name):
    """Cross-attention DTW on the checkpoint's alignment heads, against transformers' word
    timestamps (its pipeline, return_timestamps="word") on the same weights and clips."""
    import re

    from transformers import pipeline

    from whisper_eas import EASConfig, TopK

    reference = pipeline("automatic-speech-recognition", model=str(hf_folder[name]))
    language = (
        {"generate_kwargs": {"language": "en"}} if models[name].tokenizer.multilingual else {}
    )
    key = lambda text: re.sub(r"[^a-z0-9]", "", text.lower())  # noqa: E731
    for clip in (FIXTURES[-1], FIXTURES[0]):  # jfk.flac and a dev-clean clip
        theirs = reference(load_audio(clip), return_timestamps="word", **language)["chunks"]
        for eas in (None, EASConfig(2, TopK(0.5))):  # with EAS, columns map back to audio time
            result = transcribe(models[name], clip, word_timestamps=True, eas=eas)
            ours = [w for segment in result.segments for w in segment.words]
            pairs = [(o, t) for o, t in zip(ours, theirs) if key(o.word) == key(t["text"])]
            assert len(pairs) >= 0.9 * len(theirs), (clip.name, [w.word for w in ours])
            close = [abs(o.start - t["timestamp"][0]) <= 0.1 for o, t in pairs]
            assert sum(close) >= 0.9 * len(pairs), (clip.name, eas, pairs)
            starts = [w.start for w in ours]
            assert starts == sorted(starts) and ours[-1].end <= result.duration + 0.02


@pytest.mark.parametrize("name", ["tiny.en", "base"])
def test_beam_search_tokens_equal_transformers_num_beams_5(models, hf_folder, name):
    """Beam 5 without timestamps against transformers' generate(num_beams=5) on the same
    weights and the fixtures; a batch of all fixtures gives each row its tokens alone."""
    from whisper_eas import DecodingOptions, decode

    ours, folder = models[name], hf_folder[name]
    reference = WhisperForConditionalGeneration.from_pretrained(folder).eval()
    extractor = WhisperFeatureExtractor.from_pretrained(folder)
    language = "en" if ours.tokenizer.multilingual else None
    prompt = ours.tokenizer.sot_sequence(language)
    kwargs = {"language": "en", "task": "transcribe"} if language else {}
    features = torch.cat([
        torch.from_numpy(extractor(load_audio(clip), sampling_rate=16000,
                                   return_tensors="np").input_features)
        for clip in FIXTURES
    ])  # fmt: skip
    options = DecodingOptions(beam_size=5, language=language)
    with torch.inference_mode():
        batched = decode(ours, ours.network.encoder(features), options)
        for row, clip in enumerate(FIXTURES):
            theirs = reference.generate(
                features[row : row + 1], num_beams=5, max_new_tokens=224,
                return_dict_in_generate=True, **kwargs,
            ).sequences[0].tolist()  # fmt: skip
            theirs = theirs[len(prompt) :] if theirs[: len(prompt)] == prompt else theirs
            theirs = theirs[:-1] if theirs[-1] == ours.tokenizer.eot else theirs
            alone = decode(ours, ours.network.encoder(features[row : row + 1]), options)[0]
            assert alone.tokens == theirs, clip.name
            assert batched[row].tokens == alone.tokens, clip.name
