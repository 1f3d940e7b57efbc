"""jndtf.sysinfo.cpu_line: the CPU line every benchmark prints beside its timings."""

from jndtf.sysinfo import cpu_line


def test_cpu_line_names_the_model_and_only_the_simd_flags(tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text(
        "processor\t: 0\nmodel name\t: Test CPU 9000\n"
        "flags\t\t: fpu sse2 sse4_2 avx avx2 fma avx512f avx512_vnni amx_tile ht\n"
        "processor\t: 1\nmodel name\t: Test CPU 9000\nflags\t\t: fpu\n"
    )
    line = cpu_line(str(info))
    assert line.startswith("Test CPU 9000, ")
    assert line.endswith("SIMD: amx_tile avx avx2 avx512_vnni avx512f fma sse4_2")


def test_cpu_line_without_cpuinfo_still_answers(tmp_path):
    assert "SIMD: unknown" in cpu_line(str(tmp_path / "missing"))
