"""What this CPU has, read once from Linux's /proc/cpuinfo: its instruction sets and its maker.
The kernels are picked by them (`quantize`, the screen kind in `decoding`, `attention`), since
this project's CPUs differ from run to run and so does which kernel is fastest. Elsewhere (no
/proc/cpuinfo) it lists nothing, and each choice takes its kernel for a CPU without them."""

from functools import lru_cache
from pathlib import Path


@lru_cache(maxsize=1)
def cpu_flag_set() -> frozenset[str]:
    """Every word of Linux's /proc/cpuinfo, read once (elsewhere: none)."""
    try:
        return frozenset(Path("/proc/cpuinfo").read_text().split())
    except OSError:
        return frozenset()


@lru_cache(maxsize=None)
def cpu_has(*flags: str) -> bool:
    """Whether this CPU lists any of `flags`. Cached: a step of `--batch-size 1` asks it for
    each of its products (`model.linear`), where the set lookups took ~1 us a call."""
    return any(flag in cpu_flag_set() for flag in flags)


def has_avx512() -> bool:
    """Whether this CPU has AVX-512, where oneDNN's kernels run their widest."""
    return cpu_has("avx512f")


def has_vnni() -> bool:
    """Whether FBGEMM sums u8 x s8 products straight into int32 here (AVX512-VNNI)."""
    return cpu_has("avx512_vnni")


def has_bf16() -> bool:
    """Whether this CPU multiplies bfloat16 in hardware (AVX512-BF16 or AMX); elsewhere
    PyTorch emulates it, several times slower than float32."""
    return cpu_has("avx512_bf16", "amx_bf16")


def has_amx() -> bool:
    """Whether this CPU has AMX tiles for bfloat16: there oneDNN's bf16 products of 1,500 rows
    run ~3x faster than float32 and ~2x faster than FBGEMM's int8 (docs/int8.md)."""
    return cpu_has("amx_bf16")


def is_intel() -> bool:
    """Whether Intel made this CPU: MKL, PyTorch's BLAS on x86, runs its AVX-512 kernels only
    there (on the AMD EPYC with AVX-512 its float32 attention products ran several times
    slower than oneDNN's)."""
    return cpu_has("GenuineIntel")
