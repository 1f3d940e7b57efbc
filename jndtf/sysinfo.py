"""The machine a figure was measured on: CPU model, core count and the SIMD flags that decide the
speed of convolutions and GEMMs (AVX2, AVX-512, VNNI, AMX). Every benchmark prints this line
beside its timings, since the same code runs at different speeds (and XNNPACK picks different
kernels) per instruction set. numpy-free, TensorFlow-free.

Example:
    >>> from jndtf.sysinfo import cpu_line
    >>> cpu_line()  # doctest: +SKIP
    'Intel(R) Xeon(R) Processor, 2 cores, SIMD: avx avx2 avx512f avx512_vnni fma'
"""

from __future__ import annotations

import os
import platform

#: flag prefixes worth naming beside a timing
SIMD_PREFIXES = ("avx", "fma", "amx", "sse4_2", "f16c")


def cpu_line(cpuinfo: str = "/proc/cpuinfo") -> str:
    """``"MODEL, N cores, SIMD: flags"`` read from `cpuinfo` (falls back to :mod:`platform`)."""
    name, flags = "", set()
    try:
        with open(cpuinfo) as f:
            for line in f:
                if line.startswith("model name") and not name:
                    name = line.split(":", 1)[1].strip()
                elif line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    break
    except OSError:
        pass
    name = name or platform.processor() or platform.machine() or "unknown CPU"
    simd = sorted(f for f in flags if f.startswith(SIMD_PREFIXES))
    return f"{name}, {os.cpu_count()} cores, SIMD: {' '.join(simd) or 'unknown'}"
