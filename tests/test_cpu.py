"""What the CPU has, read from /proc/cpuinfo's words: each question asks for the flags it names,
and a machine without /proc/cpuinfo has none (every kernel choice falls back)."""

import pytest

import whisper_eas.cpu as cpu

INTEL_AMX = "vendor_id : GenuineIntel flags : avx2 avx512f avx512_vnni avx512_bf16 amx_bf16"
AMD_ZEN5 = "vendor_id : AuthenticAMD flags : avx2 avx512f avx512_vnni avx512_bf16"
AMD_AVX2 = "vendor_id : AuthenticAMD flags : avx2 fma"


@pytest.fixture
def cpuinfo(monkeypatch):
    """Makes /proc/cpuinfo read as the given words, and forgets the cached answers after."""

    def use(words: str) -> None:
        monkeypatch.setattr(cpu, "cpu_flag_set", lambda: frozenset(words.split()))
        cpu.cpu_has.cache_clear()

    yield use
    cpu.cpu_has.cache_clear()


@pytest.mark.parametrize(
    "words, intel, amx, bf16, vnni",
    [
        (INTEL_AMX, True, True, True, True),
        (AMD_ZEN5, False, False, True, True),
        (AMD_AVX2, False, False, False, False),
        ("", False, False, False, False),
    ],
)
def test_each_question_reads_its_flags(cpuinfo, words, intel, amx, bf16, vnni):
    cpuinfo(words)
    assert (cpu.is_intel(), cpu.has_amx(), cpu.has_bf16(), cpu.has_vnni()) == (
        intel, amx, bf16, vnni,
    )  # fmt: skip


def test_this_machine_answers_from_its_own_cpuinfo():
    words = cpu.cpu_flag_set()
    assert isinstance(words, frozenset)
    assert cpu.is_intel() == ("GenuineIntel" in words)
