"""The `"sdpa"` backend's CPU float32 paths (oneDNN products a chunk of queries at a time, or
PyTorch's fused kernel on Intel's CPUs) against the eager reference and each other."""

import math

import pytest
import torch
import torch.nn.functional as F

import whisper_eas.attention as attention_module
from whisper_eas import onednn
from whisper_eas.attention import QUERY_CHUNK, attention, attention_with_received

pytestmark = pytest.mark.skipif(not onednn.onednn_works(), reason="no oneDNN linear op here")


def heads(batch: int, n_head: int, length: int, width: int = 64, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(batch, n_head, length, width, generator=generator)


def counted_products(monkeypatch) -> list:
    calls = []
    product = onednn.product
    monkeypatch.setattr(onednn, "product", lambda *a: calls.append(1) or product(*a))
    return calls


@pytest.mark.parametrize("n_queries, n_keys", [(1500, 1500), (1100, 1100), (37, 593), (3, 1500)])
def test_onednn_path_agrees_with_eager_and_fused(monkeypatch, n_queries, n_keys):
    monkeypatch.setattr(attention_module, "fused_on_cpu", lambda: False)
    q, k, v = (
        heads(2, 6, n_queries, seed=1),
        heads(2, 6, n_keys, seed=2),
        heads(2, 6, n_keys, seed=3),
    )
    calls = counted_products(monkeypatch)
    with torch.inference_mode():
        got = attention(q, k, v, backend="sdpa")
        eager = attention(q, k, v, backend="eager")
        fused = F.scaled_dot_product_attention(q, k, v)
    assert len(calls) == 2 * 2 * 6 * math.ceil(n_queries / QUERY_CHUNK)  # it took the path
    assert got.shape == (2, 6, n_queries, 64)
    assert (got - eager).abs().max().item() < 1e-5
    assert (got - fused).abs().max().item() < 1e-5


@pytest.mark.parametrize("n_queries", [1500, 37, 3])
def test_bf16_products_on_the_onednn_path(monkeypatch, n_queries):
    """`products_dtype=torch.bfloat16` (int8's encoder on a CPU with AVX512-BF16): the chunked
    path multiplies in bf16 and returns float32 within bf16's rounding of float32's output,
    and a row gets the same bits alone as in a batch."""
    monkeypatch.setattr(attention_module, "fused_on_cpu", lambda: False)
    calls = []
    product = attention_module.bf16_product
    monkeypatch.setattr(attention_module, "bf16_product", lambda *a: calls.append(1) or product(*a))
    q, k, v = heads(2, 6, n_queries, seed=1), heads(2, 6, 1500, seed=2), heads(2, 6, 1500, seed=3)
    with torch.inference_mode():
        got = attention(q, k, v, backend="sdpa", products_dtype=torch.bfloat16)
        eager = attention(q, k, v, backend="eager")
        alone = attention(q[1:], k[1:], v[1:], backend="sdpa", products_dtype=torch.bfloat16)
    assert len(calls) == 3 * 2 * 6 * math.ceil(n_queries / QUERY_CHUNK)  # 2 rows, then 1
    assert got.dtype == torch.float32 and got.shape == (2, 6, n_queries, 64)
    assert (got - eager).abs().max().item() < 2e-2
    assert ((got - eager).norm() / eager.norm()).item() < 1e-2  # measured ~5e-3
    assert torch.equal(alone[0], got[1])


def test_intel_cpus_take_the_fused_kernel_for_float32(monkeypatch):
    """Where MKL runs its fast kernels the fused kernel does the whole of `"sdpa"`."""
    monkeypatch.setattr(attention_module, "fused_on_cpu", lambda: True)
    q, k, v = heads(1, 6, 1500, seed=1), heads(1, 6, 1500, seed=2), heads(1, 6, 1500, seed=3)
    calls = counted_products(monkeypatch)
    with torch.inference_mode():
        got = attention(q, k, v, backend="sdpa")
        assert torch.equal(got, F.scaled_dot_product_attention(q, k, v))
        assert (got - attention(q, k, v, backend="eager")).abs().max().item() < 1e-5
    assert calls == []


@pytest.mark.parametrize(
    "intel, avx512, fused", [(True, True, True), (True, False, True), (False, True, False),
                             (False, False, True)],
)  # fmt: skip
def test_fused_on_cpu_everywhere_but_amd_with_avx512(monkeypatch, intel, avx512, fused):
    monkeypatch.setattr(attention_module, "is_intel", lambda: intel)
    monkeypatch.setattr(attention_module, "has_avx512", lambda: avx512)
    assert attention_module.fused_on_cpu() == fused


@pytest.mark.parametrize("fused", [False, True])
def test_a_row_gets_the_same_bits_alone_as_in_a_batch(monkeypatch, fused):
    monkeypatch.setattr(attention_module, "fused_on_cpu", lambda: fused)
    q, k, v = heads(3, 8, 1500, seed=4), heads(3, 8, 1500, seed=5), heads(3, 8, 1500, seed=6)
    with torch.inference_mode():
        batch = attention(q, k, v, backend="sdpa")
        for row in range(3):
            alone = attention(q[row : row + 1], k[row : row + 1], v[row : row + 1], backend="sdpa")
            assert torch.equal(alone[0], batch[row])


@pytest.mark.parametrize("threads", [1, 2, 4])
def test_the_fused_kernel_gives_a_row_its_own_bits(threads):
    """What the module docstring says of PyTorch's fused CPU kernel in float32: a row's own bits
    for the query counts of prompts and windows, and a key count EAS leaves. A step's one to
    three queries may differ in the last bits at 2 or more threads (AMD EPYC Zen 4, torch
    2.13: up to 8e-8), which is why float32 steps run eager; they stay within float32's
    rounding."""
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        for n_queries, n_keys in ((1, 1500), (3, 1500), (224, 1500), (1500, 1500), (1500, 700)):
            q = heads(8, 6, n_queries, seed=n_queries)
            k, v = heads(8, 6, n_keys, seed=1), heads(8, 6, n_keys, seed=2)
            with torch.inference_mode():
                batch = F.scaled_dot_product_attention(q, k, v)
                for rows in (slice(0, 1), slice(3, 4), slice(7, 8), slice(2, 5)):
                    alone = F.scaled_dot_product_attention(q[rows], k[rows], v[rows])
                    if n_queries > 3:
                        assert torch.equal(alone, batch[rows])
                    else:
                        assert (alone - batch[rows]).abs().max().item() < 1e-6
    finally:
        torch.set_num_threads(previous)


def test_float32_decoding_steps_run_eager_by_default():
    """Batch invariance of a float32 step does not lean on the fused kernel (above)."""
    import inspect

    from whisper_eas.decoding import DecodingOptions
    from whisper_eas.model import TextDecoder

    assert DecodingOptions().backend == "eager"
    assert inspect.signature(TextDecoder.forward).parameters["backend"].default == "eager"


def test_pytorch_fused_kernel_where_onednn_does_not_apply(monkeypatch):
    monkeypatch.setattr(attention_module, "fused_on_cpu", lambda: False)
    q, k, v = heads(1, 6, 200, seed=7), heads(1, 6, 200, seed=8), heads(1, 6, 200, seed=9)
    calls = counted_products(monkeypatch)
    mask = torch.ones(1, 1, 200, 200, dtype=torch.bool).tril()
    with torch.inference_mode():  # a mask (the decoder's prompts)
        masked = attention(q, k, v, mask=mask, backend="sdpa")
        assert torch.equal(masked, F.scaled_dot_product_attention(q, k, v, attn_mask=mask))
    with torch.no_grad():  # float64
        q64, k64, v64 = q.double(), k.double(), v.double()
        wide = attention(q64, k64, v64, backend="sdpa")
        assert torch.equal(wide, F.scaled_dot_product_attention(q64, k64, v64))
    with torch.inference_mode():  # the switch off
        monkeypatch.setattr(onednn, "use_onednn", False)
        assert torch.equal(
            attention(q, k, v, backend="sdpa"), F.scaled_dot_product_attention(q, k, v)
        )
    monkeypatch.setattr(onednn, "use_onednn", True)
    q.requires_grad_(True)  # gradients: oneDNN's op has no backward
    out = attention(q, k, v, backend="sdpa")
    assert out.grad_fn is not None
    assert calls == []


@pytest.mark.parametrize("with_values", [True, False])
def test_received_attention_on_onednn_agrees_with_torch_kernels(monkeypatch, with_values):
    """The EAS scoring block's probabilities (`attention_with_received`): on oneDNN in float32
    on a CPU, as `"sdpa"`; the same output and received attention as torch's own products."""
    q, k, v = heads(2, 6, 1500, seed=10), heads(2, 6, 1500, seed=11), heads(2, 6, 1500, seed=12)
    v = v if with_values else None
    calls = counted_products(monkeypatch)
    with torch.inference_mode():
        out, received = attention_with_received(q, k, v, chunk_size=128)
        monkeypatch.setattr(onednn, "use_onednn", False)
        torch_out, torch_received = attention_with_received(q, k, v, chunk_size=128)
    per_chunk = 2 if with_values else 1
    assert len(calls) == per_chunk * 2 * 6 * math.ceil(1500 / 128)
    assert (received - torch_received).abs().max().item() < 1e-7
    assert torch.allclose(received.sum(dim=-1), torch.ones(2, 6))  # each query's probabilities
    if with_values:
        assert (out - torch_out).abs().max().item() < 1e-5
    else:
        assert out is None and torch_out is None
