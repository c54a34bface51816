"""The output projection screened in bfloat16 or int8 (`screening`), on real weights and the
decoder's real outputs on speech, against float64 products: its margins hold, the refined
logits give float32's tokens, and a transcript keeps float32's tokens and its batch
invariance."""

import pytest
import torch
from conftest import FIXTURES

import whisper_eas.decoding as decoding
import whisper_eas.fbgemm as fbgemm
import whisper_eas.screening as screening
from whisper_eas import transcribe
from whisper_eas.screening import (
    BF16_ROUNDING,
    ScreenedProjection,
    int8_screen_works,
    int8x2_screen_works,
)


def bf16_products_work() -> bool:
    try:
        with torch.inference_mode():
            ScreenedProjection(torch.randn(64, 16), 60)(torch.randn(1, 16))
        return True
    except RuntimeError:
        return False


KINDS = [
    pytest.param(
        "bf16", marks=pytest.mark.skipif(not bf16_products_work(), reason="no oneDNN bf16")
    ),
    pytest.param(
        "int8", marks=pytest.mark.skipif(not int8_screen_works(), reason="no int8 product")
    ),
    pytest.param(
        "int8x2",
        marks=pytest.mark.skipif(not int8x2_screen_works(), reason="no exact oneDNN int8"),
    ),
    pytest.param(
        "int8x2-fbgemm",
        marks=pytest.mark.skipif(not fbgemm.product_is_exact(), reason="no exact FBGEMM"),
    ),
]
CLIPS = [str(f) for f in FIXTURES[:3]]


@pytest.fixture(scope="module")
def steps(models):
    """Each model's decoder outputs (LayerNorm'd, before the projection) at every greedy step
    of transcribing three fixture clips: (model, hidden (N, D))."""
    captured = {}
    for name, model in models.items():
        hidden = []

        def keep(module, args, out, hidden=hidden):
            if out.shape[1] == 1:  # a step, not a prompt
                hidden.append(out[:, 0].detach().clone())

        hook = model.network.decoder.ln.register_forward_hook(keep)
        try:
            transcribe(model, CLIPS, condition_on_previous_text=False)
        finally:
            hook.remove()
        captured[name] = (model, torch.cat(hidden))
    return captured


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("name", ["tiny.en", "base"])
def test_screened_logits_stay_within_their_margins(steps, name, kind):
    model, hidden = steps[name]
    weight = model.network.decoder.token_embedding.weight.detach()
    exact_from = model.tokenizer.timestamp_begin
    screen = ScreenedProjection(weight, exact_from, kind)
    with torch.inference_mode():
        # A row's screened logits are its own bits, alone or beside others.
        assert torch.equal(screen(hidden[:1])[0], screen(hidden[:8])[0][:1])
        for rows in (hidden[:1], hidden[1:9]):
            logits, norms = screen(rows)
            exact = rows.double() @ weight.double().T
            error = (logits.double() - exact).abs()
            allowed = (
                screen.margins(norms).double()
                + BF16_ROUNDING * logits.double().abs()[:, :exact_from]
            )
            assert (error[:, :exact_from] <= allowed).all()
            assert error[:, exact_from:].max() < 1e-4  # the timestamps: a float32 product
            assert (error[:, :exact_from] > 1e-3).any()  # the screen is not float32 after all


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("name", ["tiny.en", "base"])
def test_refined_logits_choose_float32s_tokens_under_masks(steps, name, kind):
    """Every row's largest logit and largest text logit, masked as the timestamp rules and
    the suppression mask them (-inf, whole text ranges included), are the exact ones."""
    model, hidden = steps[name]
    weight = model.network.decoder.token_embedding.weight.detach()
    exact_from = model.tokenizer.timestamp_begin
    screen = ScreenedProjection(weight, exact_from, kind)
    generator = torch.Generator().manual_seed(0)
    with torch.inference_mode():
        logits, norms = screen(hidden)
        exact = hidden.double() @ weight.double().T
        masks = torch.zeros_like(logits, dtype=torch.bool)
        for row in range(len(hidden)):
            kind = int(torch.randint(0, 5, (), generator=generator))
            if kind == 1:  # text masked: a timestamp must follow
                masks[row, :exact_from] = True
            elif kind == 2:  # timestamps masked, and the screened best text token
                masks[row, exact_from:] = True
                masks[row, int(logits[row, :exact_from].argmax())] = True
            elif kind == 3:  # a scatter of suppressed tokens
                masks[row, torch.randint(0, logits.shape[1], (500,), generator=generator)] = True
            elif kind == 4:  # near ties: the 30 likeliest text tokens alone (their order is
                # where the screen alone errs)
                masks[row] = True
                masks[row, exact[row, :exact_from].topk(30).indices] = False
        logits[masks], exact[masks] = -torch.inf, -torch.inf
        refined = logits.clone()
        screen.refine(refined, hidden, norms)
        assert torch.equal(refined.argmax(dim=1), exact.argmax(dim=1))
        text_best = refined[:, :exact_from].amax(dim=1).double()
        assert torch.allclose(text_best, exact[:, :exact_from].amax(dim=1), rtol=0, atol=1e-4)
        assert (refined[masks] == -torch.inf).all()
        unrefined = (refined != logits) & ~masks
        assert unrefined.sum(dim=1).float().median() <= 3  # candidates are few on speech


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("name", ["tiny.en", "base"])
def test_transcripts_keep_float32s_tokens_and_their_batch_invariance(
    models, name, kind, monkeypatch
):
    monkeypatch.setattr(decoding, "screen_kind", lambda one_row=True: kind)
    model = models[name]
    decoder = model.network.decoder
    runs = {}
    try:
        for screened in (False, True):
            decoder.screened_logits = screened
            runs[screened] = transcribe(model, CLIPS, batch_size=3)
    finally:
        decoder.screened_logits = True
    for plain, screened in zip(runs[False], runs[True]):
        assert plain.tokens == screened.tokens
        for a, b in zip(plain.segments, screened.segments):
            assert abs(a.avg_logprob - b.avg_logprob) < 2e-3
    for clip, together in zip(CLIPS, runs[True]):
        alone = transcribe(model, clip, batch_size=3)
        assert alone.tokens == together.tokens
        assert [s.avg_logprob for s in alone.segments] == [s.avg_logprob for s in together.segments]


@pytest.mark.parametrize("kind", KINDS)
def test_a_row_with_many_candidates_gets_its_whole_float32_product(steps, kind, monkeypatch):
    """Past MAX_REFINED candidates (a flat distribution) a row's text columns are all computed
    in float32; masked ones stay masked."""
    model, hidden = steps["tiny.en"]
    embedding = model.network.decoder.token_embedding
    exact_from = model.tokenizer.timestamp_begin
    monkeypatch.setattr(screening, "MAX_REFINED", 0)
    screen = ScreenedProjection(embedding.weight.detach(), exact_from, kind)
    with torch.inference_mode():
        logits, norms = screen(hidden[:4])
        logits[:, :100] = -torch.inf
        screen.refine(logits, hidden[:4], norms)
        exact = hidden[:4] @ embedding.weight.detach()[:exact_from].T
        assert (logits[:, :100] == -torch.inf).all()
        assert torch.allclose(logits[:, 100:exact_from], exact[:, 100:], rtol=0, atol=1e-4)


def test_several_rows_read_the_screen_made_sooner_and_a_bad_screen_is_named(models):
    """One row reads the narrowest screen (int8x2 on a CPU with AMX, else int8: the fewest
    bytes), several the bf16 one (as fast at eight rows, made ~0.15 s sooner in each process,
    and ATen's int8 product computes each row apart); without bf16 instructions one row reads
    FBGEMM's int8x2 and several none (eight float32 rows cost what sixteen int8 rows do)."""
    with pytest.raises(ValueError, match="screen must be one of"):
        decoding.DecodingOptions(screen="int4")
    several = decoding.screen_kind(one_row=False)
    one = decoding.screen_kind(one_row=True)
    if not decoding.has_bf16() and fbgemm.product_is_exact():  # no bf16: no AMX either
        assert (one, several) == ("int8x2-fbgemm", None)
    if several is not None and screening.bf16_screen_works() and decoding.has_bf16():
        assert several == "bf16"
    if decoding.has_amx() and int8x2_screen_works():
        assert one == "int8x2"
    elif decoding.has_bf16() and int8_screen_works():
        assert one == "int8"
    if not int8x2_screen_works():
        options = decoding.DecodingOptions(screen="int8x2")
        with pytest.raises(ValueError, match="does not run on this CPU"):
            decoding.screened_projection(models["tiny.en"], options)


@pytest.mark.parametrize(
    "amx, bf16, one, several",
    [
        (True, True, "int8x2", "bf16"),  # AMX Xeon
        (False, True, "int8", "bf16"),  # AMD EPYC with AVX512-BF16
        (False, False, "int8x2-fbgemm", None),  # AVX2 only
    ],
)
def test_each_cpu_gets_the_screen_measured_fastest_on_it(monkeypatch, amx, bf16, one, several):
    for name in ("int8_screen_works", "int8x2_screen_works", "bf16_screen_works"):
        monkeypatch.setattr(decoding, name, lambda: True)
    monkeypatch.setattr(fbgemm, "product_is_exact", lambda: True)
    monkeypatch.setattr(decoding, "has_amx", lambda: amx)
    monkeypatch.setattr(decoding, "has_bf16", lambda: bf16)
    assert decoding.screen_kind(one_row=True) == one
    assert decoding.screen_kind(one_row=False) == several


def test_only_batch_size_one_takes_the_one_row_kernels(models, monkeypatch):
    """The kernels fastest for one row (MKL's products, the one-row screen) follow the setting
    `batch_size=1`, never the number of rows a run happens to have."""
    with pytest.raises(ValueError, match="one_row must be True or False"):
        decoding.DecodingOptions(one_row="yes")
    seen = []
    one_row_run = decoding.one_row_run
    monkeypatch.setattr(decoding, "one_row_run", lambda on=True: seen.append(on) or one_row_run(on))
    for batch_size in (1, 8):
        seen.clear()
        transcribe(models["tiny.en"], CLIPS[0], batch_size=batch_size)
        assert seen and set(seen) == {batch_size == 1}
