import warnings
from dataclasses import replace

import numpy as np
import pytest
import torch
from conftest import DATA, FIXTURES, MANIFEST

from whisper_eas import DecodingOptions, decode, load_audio, transcribe
from whisper_eas.research.metrics import word_error_rate


def test_golden_transcript(tiny):
    assert transcribe(tiny, DATA / "jfk.flac", timestamps=False).text == (
        "And so my fellow Americans ask not what your country can do for you, "
        "ask what you can do for your country."
    )


@pytest.mark.parametrize("name", ["tiny.en", "base"])
def test_fixture_wer(models, name):
    """Both models measure 1.99 % (3 errors in 151 words, 2026-11-29); one more error is the
    margin (2.65 %)."""
    results = transcribe(models[name], [str(f) for f in FIXTURES])
    wer = word_error_rate([r["text"] for r in MANIFEST], [r.text for r in results])
    assert wer <= 4 / 151 + 1e-9, f"{name}: WER {wer:.4f}"


def test_an_open_file_transcribes_as_its_path(tiny):
    """faster-whisper's `transcribe` takes an open binary file too: a file object and its
    bytes in memory read the samples of the path."""
    import io

    path = DATA / "1272-128104-0000.mp3"
    with open(path, "rb") as file:
        opened = transcribe(tiny, file)
    in_memory = transcribe(tiny, [io.BytesIO(path.read_bytes())])[0]
    assert opened.tokens == in_memory.tokens == transcribe(tiny, path).tokens
    with pytest.raises(ValueError, match="cannot decode audio file <stream>"):
        transcribe(tiny, io.BytesIO(b"not audio at all"))


def test_batch_equals_single(tiny):
    batched = transcribe(tiny, [str(f) for f in FIXTURES], batch_size=4)
    for clip, result in zip(FIXTURES, batched):
        assert transcribe(tiny, str(clip)).tokens == result.tokens, clip.name


def test_dropping_finished_rows_from_the_cache_changes_no_number(tiny, monkeypatch):
    """`generate` drops the rows that finished from the cache (`DROP_FINISHED`); the rows
    still decoding give the same tokens and log-probabilities as when every row stays."""
    import whisper_eas.decoding as decoding

    clips = [str(f) for f in FIXTURES]  # 2-35 s: rows that finish many steps apart
    runs, default = {}, decoding.DROP_FINISHED
    for share in (default, float("inf")):
        monkeypatch.setattr(decoding, "DROP_FINISHED", share)
        results = transcribe(tiny, clips, batch_size=len(clips), condition_on_previous_text=False)
        runs[share] = [(r.tokens, [s.avg_logprob for s in r.segments]) for r in results]
    assert runs[default] == runs[float("inf")]


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_one_query_reads_the_cache_in_blocks_with_the_whole_caches_bits(dtype):
    """A decoding step reads the self-attention cache up to the next multiple of
    `VISIBLE_STEP` past its furthest row (`KVCache.place`), so how much it reads depends on
    the neighbours; each row's output must be the bits it gets from the whole cache."""
    from whisper_eas.attention import attention
    from whisper_eas.model import VISIBLE_STEP

    generator = torch.Generator().manual_seed(0)
    n_ctx = 448
    for _ in range(40):
        rows = int(torch.randint(1, 9, (), generator=generator))
        where = torch.randint(0, n_ctx, (rows, 1), generator=generator)
        keys = torch.arange(n_ctx)
        mask = (keys[None, None, :] <= where[:, :, None])[:, None]  # (B, 1, 1, n_ctx)
        k, v = (torch.randn(rows, 6, n_ctx, 64, generator=generator) * mask[:, :, 0, :, None]
                for _ in range(2))  # fmt: skip
        q = torch.randn(rows, 6, 1, 64, generator=generator)
        q, k, v = q.to(dtype), k.to(dtype), v.to(dtype)
        whole = attention(q, k, v, mask=mask, backend="eager")
        end = int(where.max()) + 1
        for seen in range(-(-end // VISIBLE_STEP) * VISIBLE_STEP, n_ctx + 1, VISIBLE_STEP):
            seen = min(seen, n_ctx)
            part = attention(q, k[:, :, :seen], v[:, :, :seen], mask=mask[..., :seen],
                             backend="eager")  # fmt: skip
            assert torch.equal(part, whole), (rows, end, seen)


def test_a_step_placed_from_the_hosts_count_reads_what_it_reads_back():
    """CUDA-graph steps (`cuda_step`) tell `KVCache.place` how far the rows have written
    (`known_end`) instead of reading it back from the device: the same positions, mask, writes
    and block of the cache."""
    from whisper_eas.model import KVCache

    cross_kv = [(torch.zeros(3, 6, 20, 64), torch.zeros(3, 6, 20, 64))]
    for positions in ([0, 5, 2], [63, 10, 0], [64, 64, 1], [200, 447, 3]):
        placed = {}
        for known_end in (None, max(positions) + 1):
            cache = KVCache(cross_kv, [20, 20, 20], 448, positions=torch.tensor(positions))
            cache.known_end = known_end
            where = cache.place(1)
            placed[known_end] = (where, cache.mask, cache.slots, cache.visible)
        (w1, m1, s1, v1), (w2, m2, s2, v2) = placed.values()
        assert torch.equal(w1, w2) and torch.equal(m1, m2) and torch.equal(s1, s2) and v1 == v2


def test_reading_the_cache_in_blocks_changes_no_number(tiny, tiny_int8, monkeypatch):
    """Whole transcriptions (float32 and int8, greedy and beam search) give the same tokens
    and log-probabilities reading the cache in blocks as reading all of it."""
    import whisper_eas.model as model

    clips, default = [str(f) for f in FIXTURES[:4]], model.VISIBLE_STEP
    for whisper, beam_size in ((tiny, None), (tiny, 3), (tiny_int8, None)):
        runs = {}
        for step in (default, 448):
            monkeypatch.setattr(model, "VISIBLE_STEP", step)
            results = transcribe(whisper, clips, batch_size=len(clips), beam_size=beam_size)
            runs[step] = [(r.tokens, [s.avg_logprob for s in r.segments]) for r in results]
        assert runs[default] == runs[448]


def test_language_detection_and_translate(base):
    results = transcribe(base, [str(f) for f in FIXTURES[:3]])
    assert [r.language for r in results] == ["en"] * 3
    # English in, English out: the translation is the transcript (measured: WER 0)
    translated = transcribe(base, DATA / "jfk.flac", language="en", task="translate")
    assert word_error_rate([MANIFEST[-1]["text"]], [translated.text]) <= 0.05, translated.text


def test_english_only_model_refuses_other_languages(tiny):
    with pytest.raises(ValueError, match="English-only"):
        transcribe(tiny, DATA / "jfk.flac", language="fr")


def test_unknown_language_and_task(base):
    with pytest.raises(ValueError, match="unknown language 'xx'"):
        transcribe(base, DATA / "jfk.flac", language="xx")
    with pytest.raises(ValueError, match="unknown task"):
        DecodingOptions(task="summarize")


def test_max_length_is_reported(tiny):
    result = transcribe(tiny, DATA / "jfk.flac", max_new_tokens=3, timestamps=False)
    assert len(result.tokens) == 3 and result.hit_max_length == 1


def test_long_audio_is_transcribed_window_by_window(tiny):
    jfk = load_audio(DATA / "jfk.flac")
    long = np.concatenate([jfk, load_audio(FIXTURES[3]), jfk])  # 37 s: two windows or more
    result = transcribe(tiny, long)
    assert result.windows >= 2 and result.kept_tokens == [1500] * result.windows
    assert result.text.count("fellow Americans") == 2


def test_bad_waveforms(tiny):
    with pytest.raises(ValueError, match="empty audio"):
        transcribe(tiny, np.zeros(0, dtype=np.float32))
    with pytest.raises(ValueError, match="mono"):
        transcribe(tiny, np.zeros((2, 16000), dtype=np.float32))
    with pytest.raises(ValueError, match="batch_size"):
        transcribe(tiny, DATA / "jfk.flac", batch_size=0)


def test_bare_network_is_refused(tiny):
    with pytest.raises(TypeError, match="WhisperModel that load_model returns"):
        decode(tiny.network, torch.zeros(1, 1500, 384))


@pytest.mark.parametrize("intel", [True, False])
def test_linear_kernel_matches_f_linear_and_keeps_gradients(monkeypatch, intel):
    """model.linear runs CPU float32 inference on oneDNN; with gradients on it must fall back.
    In a run of one row by setting a lone row takes MKL on Intel's CPUs, elsewhere a batch's
    kernel."""
    import whisper_eas.model as model_module
    from whisper_eas.model import Linear, one_row_run

    monkeypatch.setattr(model_module, "is_intel", lambda: intel)

    torch.manual_seed(0)
    layer = Linear(512, 2048)
    x = torch.randn(2, 7, 512)
    with torch.inference_mode():
        expected = torch.nn.functional.linear(
            x.double(), layer.weight.double(), layer.bias.double()
        )
        for rows in (x, x[:, -1:], x.transpose(0, 1)):  # contiguous, a slice, a transposed view
            got = layer(rows)
            want = (
                expected
                if rows is x
                else (expected[:, -1:] if rows.shape[1] == 1 else expected.transpose(0, 1))
            )
            assert (got.double() - want).abs().max() < 1e-5
        for lone in (x[:1, -1:], x[0, -1]):  # one row (computed as two copies), 3-D and 1-D
            got = layer(lone)
            assert got.shape == lone.shape[:-1] + (2048,)
            assert (got.double() - expected[0, -1]).abs().max() < 1e-5
            assert torch.equal(got.reshape(-1), layer(x[:, -1])[0])  # its bits in a batch
            with one_row_run():  # a run of one row by setting: on Intel's CPUs on MKL
                in_run = layer(lone)
                several = layer(x)  # several rows stay on oneDNN
            mkl = torch.nn.functional.linear(lone, layer.weight, layer.bias)
            assert torch.equal(in_run, mkl if intel else got)
            assert (in_run.double() - expected[0, -1]).abs().max() < 1e-5
            assert torch.equal(several, layer(x)) and torch.equal(layer(lone), got)
    x.requires_grad_(True)
    with warnings.catch_warnings():
        warnings.simplefilter(
            "error"
        )  # the oneDNN op has no backward: torch warns when one reaches it
        layer(x).sum().backward()
    assert torch.allclose(x.grad, layer.weight.detach().sum(dim=0).expand_as(x), atol=1e-5)


def test_lone_row_gets_its_bits_in_a_batch(monkeypatch):
    """A lone row's oneDNN product has the bits the row gets beside other rows: alone where the
    first product of its kind showed that alone agrees, else as two copies of itself."""
    from whisper_eas import onednn

    if not onednn.onednn_works():
        pytest.skip("no oneDNN linear op here")
    monkeypatch.setattr(onednn, "lone_row_alone", {})
    torch.manual_seed(0)
    weight, bias = torch.randn(1152, 384) * 0.05, torch.randn(1152)
    packed, rows = onednn.pack(weight), torch.randn(8, 384)
    with torch.inference_mode():
        in_batch = onednn.product(rows, packed, bias)
        for _ in range(2):  # the first product decides, the second follows the decision
            for lone in (rows[:1], rows[:1, None], rows[None, :1]):  # 2-D and 3-D
                assert torch.equal(onednn.product(lone, packed, bias).reshape(1, -1), in_batch[:1])
        assert len(onednn.lone_row_alone) == 1  # one kind: (1152, 384), float32, a bias
        # The same shape on the plain weight is a kind of its own (another kernel).
        in_batch = onednn.product(rows, weight, bias)
        assert torch.equal(onednn.product(rows[:1], weight, bias), in_batch[:1])
        assert len(onednn.lone_row_alone) == 2

        # A kernel that gives one row other bits than several: the row always goes as two.
        def one_row_differs(x, w, b, *args):
            out = torch.stack([w @ row + b for row in x.reshape(-1, x.shape[-1])])
            return out + 1e-3 if len(out) == 1 else out.view(*x.shape[:-1], -1)

        monkeypatch.setattr(onednn, "product_op", one_row_differs)
        monkeypatch.setattr(onednn, "lone_row_alone", {})
        expected = onednn.product(rows, weight, bias)
        for _ in range(2):
            assert torch.equal(onednn.product(rows[:1], weight, bias), expected[:1])
        assert list(onednn.lone_row_alone.values()) == [False]


def test_the_cache_stores_each_rows_tokens_at_its_own_positions():
    """KVCache.write puts (row, head, token) vectors where `place` says: rows at different
    positions, one token each and several, every layer apart."""
    from whisper_eas.model import KVCache

    torch.manual_seed(0)
    layers, batch, heads, width = 2, 3, 4, 8
    cross = [(torch.randn(batch, heads, 5, width),) * 2 for _ in range(layers)]
    cache = KVCache(cross, [5] * batch, n_text_ctx=16)
    cache.positions = torch.tensor([0, 3, 7])
    expected_k = torch.zeros_like(cache.self_k)
    for n_tokens in (3, 1):
        where = cache.place(n_tokens)
        for layer in range(layers):
            k, v = torch.randn(2, batch, heads, n_tokens, width).unbind()
            seen_k, _ = cache.write(layer, k, v)
            for row in range(batch):
                expected_k[layer, row, :, where[row]] = k[row]
                assert torch.equal(cache.self_v[layer, row, :, where[row]], v[row])
            assert torch.equal(seen_k, expected_k[layer, :, :, : cache.visible])
        cache.advance(n_tokens)
    assert torch.equal(cache.self_k, expected_k)


def test_keep_moves_the_last_rows_into_the_places_of_those_that_left():
    """KVCache.keep compacts in place: each kept row holds exactly what it held (its cross and
    self K/V, its position), the rows past the new batch moving into the places left."""
    from whisper_eas.model import KVCache

    torch.manual_seed(0)
    layers, batch, heads, width = 2, 6, 2, 4
    cross = [tuple(torch.randn(2, batch, heads, 5, width).unbind()) for _ in range(layers)]
    cache = KVCache(cross, [5, 5, 4, 5, 3, 5], n_text_ctx=8)
    cache.self_k.normal_()
    cache.self_v.normal_()
    cache.positions = torch.tensor([2, 5, 3, 7, 1, 4])
    for row in range(batch):  # what a row has not written yet is still zero
        cache.self_k[:, row, :, cache.positions[row] :] = 0
        cache.self_v[:, row, :, cache.positions[row] :] = 0
    cross_before = [(k.clone(), v.clone()) for k, v in cross]
    k_before, v_before = cache.self_k.clone(), cache.self_v.clone()
    positions, counts = cache.positions.clone(), list(cache.kept_counts)
    order = KVCache.room_for([0, 2, 4, 5])  # of 6 rows, 1 and 3 finished
    assert order == [0, 4, 2, 5]
    kept = cache.keep(order)
    for place, row in enumerate(order):
        for layer in range(layers):
            assert torch.equal(kept.cross_kv[layer][0][place], cross_before[layer][0][row])
            assert torch.equal(kept.cross_kv[layer][1][place], cross_before[layer][1][row])
        assert torch.equal(kept.self_k[:, place], k_before[:, row])
        assert torch.equal(kept.self_v[:, place], v_before[:, row])
        assert kept.positions[place] == positions[row]
        assert kept.kept_counts[place] == counts[row]
    # The cross K/V were swapped, not overwritten: the tensors still hold every row's.
    held = KVCache.moved_rows(list(range(batch)), order)
    assert sorted(held) == list(range(batch))
    for place, row in enumerate(held):
        for layer in range(layers):
            assert torch.equal(cross[layer][0][place], cross_before[layer][0][row])
            assert torch.equal(cross[layer][1][place], cross_before[layer][1][row])
    with pytest.raises(ValueError, match="past the new batch"):
        KVCache(cross, [5] * batch, n_text_ctx=8).keep([1, 0])


def test_decode_hands_back_each_rows_cross_kv(tiny):
    """`decode(cross_kv=[])` gives each row the cross K/V it was decoded with, for the word
    aligner to reuse: the bits a cache of that row alone projects, also after rows that
    finished early were dropped from the cache (clips of 2-35 s finish many steps apart)."""
    from whisper_eas.audio import N_FRAMES, N_SAMPLES
    from whisper_eas.windows import Window, encode, file_mel, rows_of

    waves = [load_audio(f) for f in FIXTURES]
    windows = [
        Window(file_mel(w, tiny.dims.n_mels)[:, :N_FRAMES], min(len(w), N_SAMPLES)) for w in waves
    ]
    audio = encode(tiny, windows, None)
    cross_kv = []
    decode(tiny, audio, DecodingOptions(timestamps=True), cross_kv=cross_kv)
    assert len(cross_kv) == len(waves)
    for row, kept in enumerate(cross_kv):
        with torch.inference_mode():  # as the aligner (outside it, products take another kernel)
            alone = tiny.network.decoder.new_cache(rows_of(audio, [row])).cross_kv
        for (k, v), (k_alone, v_alone) in zip(kept, alone):
            assert torch.equal(k, k_alone) and torch.equal(v, v_alone), row


# --- timestamp rules, on hand-made logits ------------------------------------------------

EOT, TB, VOCAB = 10, 20, 100  # a toy vocabulary: text ids < 10, end-of-text 10, timestamps from 20


def allowed_after(generated: list[int], logits=None, speech_until=None) -> set[int]:
    from whisper_eas.decoding import apply_timestamp_rules

    if logits is None:  # text far likelier than all timestamps together: no forced timestamp
        logits = torch.zeros(1, VOCAB)
        logits[0, :TB] = 5.0
    logits = logits.clone()
    apply_timestamp_rules(logits, [generated], TB, EOT, [speech_until])
    return set(torch.nonzero(logits[0] > -torch.inf).flatten().tolist())


def test_first_token_is_a_timestamp_of_at_most_one_second():
    assert allowed_after([]) == set(range(TB, TB + 51))  # <|0.00|> .. <|1.00|>


def test_max_initial_timestamp_moves_the_latest_first_timestamp():
    """openai-whisper's and faster-whisper's `max_initial_timestamp` (seconds; None: any)."""
    from whisper_eas.decoding import apply_timestamp_rules

    def first_allowed(latest):
        logits = torch.zeros(1, VOCAB)
        apply_timestamp_rules(logits, [[]], TB, EOT, max_initial=latest)
        return set(torch.nonzero(logits[0] > -torch.inf).flatten().tolist())

    assert first_allowed(0.0) == {TB}
    assert first_allowed(0.4) == set(range(TB, TB + 21))
    assert first_allowed(None) == set(range(TB, VOCAB))
    assert DecodingOptions(max_initial_timestamp=None).max_initial_timestamp is None
    with pytest.raises(ValueError, match="max_initial_timestamp must be >= 0 or None"):
        DecodingOptions(max_initial_timestamp=-1.0)


def test_a_lone_timestamp_is_followed_by_its_partner_or_end_of_text():
    # <|0.00|> hello <|0.40|>: text is banned, timestamps from 0.40 on (the segment's end may
    # equal the next start), and end-of-text
    # (ids between end-of-text and the first timestamp are the specials: the suppress list's)
    assert allowed_after([TB, 3, TB + 20]) == {*range(EOT, TB), *range(TB + 20, VOCAB)}


def test_no_end_of_text_on_a_timestamp_before_the_vads_last_speech():
    """`speech_until` (a part's last window): the text may not end on a segment's start or
    end before it, since the seek would then pass over the speech after it (base int8 closed
    a segment at 43.40 s, ended, and lost the 7-word sentence at 43.4-44.7 s); from it on, and
    without it, it may."""
    opened, closed = [TB, 3, TB + 20, TB + 20], [TB, 3, TB + 20]
    assert EOT not in allowed_after(opened, speech_until=30)
    assert EOT not in allowed_after(closed, speech_until=30)
    assert allowed_after(closed, speech_until=30) == {*range(EOT + 1, TB), *range(TB + 20, VOCAB)}
    assert EOT in allowed_after(closed, speech_until=20)  # at it
    assert EOT in allowed_after(opened, speech_until=-1)  # -1: a row with no bound
    assert EOT in allowed_after(closed)


def test_after_a_pair_comes_text_and_timestamps_never_decrease():
    after_pair = allowed_after([TB, 3, TB + 20, TB + 20])
    assert after_pair == set(range(0, TB))  # text (and eot, and the other ids below TB)
    # inside a segment: only timestamps after the last one (no zero-length segment)
    assert allowed_after([TB + 5, 3]) == {*range(0, TB), *range(TB + 6, VOCAB)}


def test_a_timestamp_is_forced_when_timestamps_together_beat_every_text_token():
    logits = torch.full((1, VOCAB), -10.0)
    logits[0, 3] = 0.0  # the best text token: p ~ e^0
    logits[0, TB:] = -2.5  # 80 timestamps of e^-2.5 each: total ~6.6 > 1
    assert allowed_after([TB, 3], logits) == set(range(TB + 1, VOCAB))
    logits[0, TB:] = -6.0  # total ~0.2 < 1: text stays allowed
    assert 3 in allowed_after([TB, 3], logits)


def test_languages_by_code_or_name(tiny, base):
    from whisper_eas.decoding import checked_language

    assert checked_language(base, "German") == checked_language(base, "de") == "de"
    assert checked_language(base, "castilian") == "es" and checked_language(base, " EN ") == "en"
    assert checked_language(tiny, "English") is None  # English-only: no language token
    with pytest.raises(ValueError, match="not available"):
        checked_language(tiny, "German")
    with pytest.raises(ValueError, match="unknown language 'Klingon'"):
        checked_language(base, "Klingon")


def test_prompts_are_faster_whispers_hotwords_first_then_the_previous_text(tiny):
    """Prompts as faster-whisper's `get_prompt` makes them (its own function, on our tokens):
    the hint, then the previous text's last 223 tokens; no hint under a prefix. Only a hint
    of over ~100 tokens shortens the previous text (its prompt would leave no new token)."""
    from faster_whisper import WhisperModel as CTranslate2Whisper
    from faster_whisper.tokenizer import Tokenizer

    from whisper_eas.decoding import forced_tokens, prompt_of
    from whisper_eas.research.bench import ct2_folder

    reference = CTranslate2Whisper(str(ct2_folder("tiny.en")), cpu_threads=1)
    their_tokenizer = Tokenizer(reference.hf_tokenizer, False, "transcribe", "en")
    sot_prev = tiny.tokenizer.special["<|startofprev|>"]
    for hotwords in (None, "Quilter, Brion", "Quilter " * 20):
        for prefix in (None, "Well,"):
            for previous in ([], list(range(100)), list(range(300))):
                for timestamps in (True, False):
                    options = DecodingOptions(
                        hotwords=hotwords, prefix=prefix, timestamps=timestamps
                    )
                    theirs = reference.get_prompt(
                        their_tokenizer, previous, not timestamps, prefix, hotwords
                    )
                    ours = prompt_of(tiny, previous, None, options, forced_tokens(tiny, options))
                    assert ours == theirs
    options = DecodingOptions(hotwords="Quilter", prefix="Well,", timestamps=True)
    assert sot_prev not in prompt_of(tiny, [], None, options)
    long_hint = DecodingOptions(hotwords="Quilter " * 200, timestamps=True)
    prompt = prompt_of(tiny, list(range(300)), None, long_hint)
    assert len(prompt) <= 448 - 448 // 4 and prompt[-2] == 299
    long_prefix = DecodingOptions(prefix="Well " * 300, timestamps=True)  # after a long prompt
    forced = forced_tokens(tiny, long_prefix)
    prompt = prompt_of(tiny, list(range(300)), None, long_prefix, forced)
    assert len(prompt) <= 448 - 448 // 4 and prompt[-len(forced) :] == forced
    result = transcribe(tiny, DATA / "1272-128104-0000.flac", hotwords="Quilter")
    assert "Quilter" in result.text
    result = transcribe(tiny, DATA / "1272-128104-0000.flac", hotwords="Quilter")
    assert "Quilter" in result.text


def test_best_of_keeps_the_likeliest_of_its_draws_and_each_row_draws_alone(tiny):
    from whisper_eas.decoding import ranked
    from whisper_eas.windows import sampling_generators

    mel = torch.stack([log_mel(tiny, FIXTURES[i]) for i in (0, 4)])
    with torch.inference_mode():
        audio = tiny.network.encoder(mel).features
    sampled = DecodingOptions(temperature=1.0)
    seeks = [0, 320]
    best = decode(tiny, audio, replace(sampled, best_of=3), generators=sampling_generators(
        tiny, seeks, 1.0, 3))  # fmt: skip
    for row, seek in enumerate(seeks):
        draws = [
            decode(tiny, audio[row : row + 1], sampled, generators=[g])[0]
            for g in sampling_generators(tiny, [seek], 1.0, 3)
        ]
        score = lambda r: ranked(r.avg_logprob * (len(r.tokens) + 1), len(r.tokens), None)  # noqa: E731
        assert best[row].tokens == max(draws, key=score).tokens
        assert len({tuple(d.tokens) for d in draws}) > 1  # the draws differ at T = 1
    with pytest.raises(ValueError, match="best_of"):
        DecodingOptions(best_of=0)


def test_a_rows_own_token_limit_stops_that_row_alone(tiny):
    """`token_limits`: the row its own limit stops says so (`hit_token_limit`); the row
    without one decodes as alone, and a limit the text never reaches changes nothing."""
    mel = torch.stack([log_mel(tiny, FIXTURES[i]) for i in (0, 4)])
    with torch.inference_mode():
        audio = tiny.network.encoder(mel).features
    free = decode(tiny, audio)
    limited = decode(tiny, audio, token_limits=[3, None])
    assert limited[0].tokens == free[0].tokens[:3] and limited[0].hit_token_limit
    assert limited[0].hit_max_length and not free[0].hit_max_length
    assert limited[1].tokens == free[1].tokens and not limited[1].hit_token_limit
    roomy = decode(tiny, audio, token_limits=[len(r.tokens) + 1 for r in free])
    assert [r.tokens for r in roomy] == [r.tokens for r in free]
    assert not any(r.hit_token_limit for r in roomy)
    for wrong in ([3], [0, None]):
        with pytest.raises(ValueError, match="token_limits takes one limit"):
            decode(tiny, audio, token_limits=wrong)


def log_mel(model, path):
    from whisper_eas import log_mel_spectrogram, pad_or_trim

    wave = torch.from_numpy(load_audio(path))
    return log_mel_spectrogram(pad_or_trim(wave), model.dims.n_mels)


def test_beams_share_their_rows_cross_attention_cache(tiny):
    mel = torch.stack([log_mel(tiny, FIXTURES[i]) for i in (0, 4)])
    with torch.inference_mode():
        cache = tiny.network.decoder.new_cache(tiny.network.encoder(mel))
    beams = cache.with_beams(5)
    assert all(b is c for pair, other in zip(beams.cross_kv, cache.cross_kv)
               for b, c in zip(pair, other))  # fmt: skip
    assert beams.self_k.shape[1] == 10 and beams.positions.tolist() == [0] * 10


def test_suppress_tokens_are_never_emitted(tiny):
    wave = load_audio(DATA / "jfk.flac")
    plain = transcribe(tiny, wave)
    americans = tiny.tokenizer.encode(" Americans")
    assert len(americans) == 1 and americans[0] in plain.tokens
    suppressed = transcribe(tiny, wave, suppress_tokens=f"-1,{americans[0]}")
    assert americans[0] not in suppressed.tokens and "Americans" not in suppressed.text
    assert "fellow" in suppressed.text  # the rest is still heard
    assert transcribe(tiny, wave, suppress_blank=False).text == plain.text
    with pytest.raises(ValueError, match="is not a token"):
        transcribe(tiny, wave, suppress_tokens=(10**6,))
    with pytest.raises(ValueError, match="comma-separated ids"):
        transcribe(tiny, wave, suppress_tokens="-1,Americans")


def test_a_prefix_starts_the_first_window_as_faster_whisper_does(tiny):
    """faster-whisper's `prefix`: forced after <|0.00|> in a file's first window, part of the
    text, then decoded on from. Its text on the six dev-clean fixtures is the reference
    (tiny.en, greedy; its CTranslate2 folder keeps float16 weights, which hear "carton" for
    "cotton" on one of them: the margin is that word)."""
    from faster_whisper import WhisperModel as CTranslate2Whisper

    from whisper_eas.research.bench import ct2_folder

    reference = CTranslate2Whisper(str(ct2_folder("tiny.en")), cpu_threads=2)
    clips = [str(c) for c in FIXTURES if c.name != "jfk.flac"]
    theirs = []
    for clip in clips:
        segments, _ = reference.transcribe(clip, language="en", beam_size=1, prefix="Well,")
        theirs.append(" ".join(s.text.strip() for s in segments))
    ours = transcribe(tiny, clips, prefix="Well,")
    assert all(r.text.startswith("Well,") and r.segments[0].start == 0.0 for r in ours)
    n_words = sum(len(t.split()) for t in theirs)
    assert word_error_rate(theirs, [r.text for r in ours]) * n_words <= 1.01
    assert transcribe(tiny, clips[0], prefix="Well,").text == ours[0].text  # alone = batched
    beam = transcribe(tiny, clips[0], prefix="Well,", beam_size=5)
    assert beam.text.startswith("Well,")
    # A long file: only its first window takes the prefix.
    long = np.concatenate([load_audio(clip) for clip in FIXTURES[:4]])
    result = transcribe(tiny, long, prefix="Well,", batch_size=1)
    assert result.windows >= 2 and result.text.count("Well,") == 1


def test_the_tokens_after_a_prefix_are_ctranslate2s(tiny):
    """After a prefix (<|0.00|> and its text, forced) the first token is free and the timestamp
    rules read only what follows, as CTranslate2's (its `sample_begin`). Given our log-mel, its
    greedy tokens and ours are the same, timestamps included, on 15 prefixed windows: prefixes
    that do and do not fit the speech (counting the prefix as output, we wrote "The<|25.74|>"
    where it wrote a sentence)."""
    from faster_whisper import WhisperModel as CTranslate2Whisper

    from whisper_eas.audio import N_FRAMES, N_SAMPLES
    from whisper_eas.research.bench import ct2_folder
    from whisper_eas.windows import Window, encode, file_mel

    reference = CTranslate2Whisper(str(ct2_folder("tiny.en")), cpu_threads=2)
    waves = [load_audio(f) for f in FIXTURES if f.name != "jfk.flac"][:5]
    windows = [
        Window(file_mel(w, tiny.dims.n_mels)[:, :N_FRAMES], min(len(w), N_SAMPLES)) for w in waves
    ]
    audio = encode(tiny, windows, None)
    features = torch.stack([w.mel for w in windows]).numpy()
    their_encoding = reference.encode(features)
    for prefix in ("So, here", "The", "Hello there my friend"):
        start = [tiny.tokenizer.sot, tiny.tokenizer.timestamp_begin]
        prompt = start + tiny.tokenizer.encode(" " + prefix)
        theirs = reference.model.generate(their_encoding, [prompt] * len(waves), beam_size=1)
        ours = decode(tiny, audio, DecodingOptions(timestamps=True, prefix=prefix))
        assert [r.tokens for r in ours] == [t.sequences_ids[0] for t in theirs], prefix


def test_repetition_penalty_and_no_repeat_ngrams_are_ctranslate2s(tiny):
    """faster-whisper's `repetition_penalty` and `no_repeat_ngram_size` are CTranslate2's
    logits processors. Given our log-mel, its greedy tokens and ours are the same on the seven
    fixtures, with and without timestamps, for a penalty alone, a ban alone and both; each
    setting changes some fixture's tokens (jfk.flac with both: "... Ask, What You Can Do For
    Your Country"). The penalty turns the greedy screen off (it rescales logits the screen
    bounds); the ban masks, as the suppression does, so the screen stays on under it."""
    from faster_whisper import WhisperModel as CTranslate2Whisper

    from whisper_eas.audio import N_FRAMES, N_SAMPLES
    from whisper_eas.decoding import screened_projection
    from whisper_eas.research.bench import ct2_folder
    from whisper_eas.windows import Window, encode, file_mel

    reference = CTranslate2Whisper(str(ct2_folder("tiny.en")), cpu_threads=2)
    waves = [load_audio(f) for f in FIXTURES]
    windows = [
        Window(file_mel(w, tiny.dims.n_mels)[:, :N_FRAMES], min(len(w), N_SAMPLES)) for w in waves
    ]
    audio = encode(tiny, windows, None)
    their_encoding = reference.encode(torch.stack([w.mel for w in windows]).numpy())
    for timestamps in (True, False):
        start = [tiny.tokenizer.sot] + ([] if timestamps else [tiny.tokenizer.no_timestamps])
        plain = [r.tokens for r in decode(tiny, audio, DecodingOptions(timestamps=timestamps))]
        for penalty, size in ((1.3, 0), (1.0, 3), (1.5, 2)):
            options = DecodingOptions(
                timestamps=timestamps, repetition_penalty=penalty, no_repeat_ngram_size=size
            )
            theirs = reference.model.generate(
                their_encoding, [start] * len(waves), beam_size=1,
                repetition_penalty=penalty, no_repeat_ngram_size=size,
            )  # fmt: skip
            ours = [r.tokens for r in decode(tiny, audio, options)]
            assert ours == [t.sequences_ids[0] for t in theirs], (timestamps, penalty, size)
            assert ours != plain, (timestamps, penalty, size)
    assert screened_projection(tiny, DecodingOptions(repetition_penalty=1.3)) is None
    screened = screened_projection(tiny, DecodingOptions(no_repeat_ngram_size=3))
    assert (screened is None) == (screened_projection(tiny, DecodingOptions()) is None)
    for bad in ({"repetition_penalty": 0.0}, {"no_repeat_ngram_size": -1}):
        with pytest.raises(ValueError, match=list(bad)[0]):
            DecodingOptions(**bad)


def test_a_finished_row_is_dropped_before_it_would_write_past_the_text_context(base):
    """Rows step together, finished or not. A multilingual row after a full previous-text
    prompt (228 tokens with <|notimestamps|>) may decode 220 tokens; a first window's, 224.
    Once the long row has finished, its next positions would lie past the 448 of the
    context, so it leaves the batch then, though fewer than a quarter of the rows have
    finished (they used to raise "decoder context overflow"). End-of-text is suppressed:
    every row runs to its limit."""
    torch.manual_seed(0)
    features = torch.randn(5, 1500, base.dims.n_audio_state) * 0.1
    words = base.tokenizer.encode(" one two three four five six seven eight nine ten")
    previous = [(words * 30)[:223], [], [], [], []]
    options = DecodingOptions(language="en", suppress_tokens=(-1, base.tokenizer.eot))
    results = decode(base, features, options, previous=previous)
    assert [len(r.tokens) for r in results] == [220, 224, 224, 224, 224]
    # The long row's tokens are its own: the same decoded alone.
    alone = decode(base, features[:1], options, previous=previous[:1])
    assert alone[0].tokens == results[0].tokens


@pytest.mark.parametrize("n_columns", [51864, 51865, 300, 7])
def test_first_argmax_is_pytorchs_argmax(n_columns):
    """`decoding.first_argmax` (chunked) against `Tensor.argmax`: random rows, ties (the first
    wins), a winner in the short last chunk, rows all -inf but one, and NaN."""
    from whisper_eas.decoding import first_argmax

    torch.manual_seed(0)
    rows = [torch.randn(3, n_columns), torch.zeros(2, n_columns)]
    tied = torch.zeros(2, n_columns)
    tied[:, [n_columns // 3, n_columns - 1]] = 1.0
    last = torch.full((2, n_columns), -torch.inf)
    last[0, -1], last[1, 0] = 0.0, 0.0
    nan = torch.randn(1, n_columns)
    nan[0, n_columns // 2] = torch.nan
    for x in rows + [tied, last, nan]:
        assert torch.equal(first_argmax(x), x.argmax(dim=-1))
