"""The command line as a user meets it: help, outputs on disk, errors without tracebacks."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import skimage.data
from typer.testing import CliRunner

from jndtf.cli import app
from jndtf.io import load_image, save_image

runner = CliRunner()


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    """A folder with two small real photos (crops keep the test fast)."""
    folder = tmp_path_factory.mktemp("photos")
    save_image(folder / "cat.png", skimage.data.chelsea()[60:156, 150:278])
    save_image(folder / "cup.png", skimage.data.coffee()[100:196, 200:328])
    return folder


def invoke(*args: str):
    return runner.invoke(app, [str(a) for a in args])


@pytest.mark.parametrize("command", ["", "list", "priors", "baseline", "inject", "samples", "demo"])
def test_every_command_has_help(command):
    r = invoke(*([command] if command else []), "--help")
    assert r.exit_code == 0, r.output
    assert "Usage" in r.output


def test_version():
    r = invoke("--version")
    assert r.exit_code == 0 and r.output.startswith("jndtf ")


def test_list_names_priors_and_models():
    r = invoke("list")
    assert r.exit_code == 0
    for name in ("pattern_masking", "saliency", "wu2017", "yang2005"):
        assert name in r.output


def test_priors_on_a_folder(photos, tmp_path):
    r = invoke("priors", photos, "-o", tmp_path, "--names", "pattern_masking,saliency")
    assert r.exit_code == 0, r.output
    for stem in ("cat", "cup"):
        pm = np.load(tmp_path / stem / "pattern_masking.npy")
        assert pm.shape == (96, 128) and pm.dtype == np.float32
        assert (tmp_path / stem / "saliency.png").is_file()
    assert not (tmp_path / "cat" / "luminance_adaptation.npy").exists()


def test_priors_unknown_name_is_a_one_line_error(photos, tmp_path):
    r = invoke("priors", photos, "-o", tmp_path, "--names", "colourfulness")
    assert r.exit_code == 2
    assert "unknown prior(s) colourfulness" in r.output and "Traceback" not in r.output


def test_folder_with_a_bad_file_keeps_the_good_ones(photos, tmp_path):
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    (mixed / "broken.png").write_bytes(b"\x89PNG not really")
    save_image(mixed / "ok.png", load_image(photos / "cat.png"))
    r = invoke("baseline", "wu2017", mixed, "-o", tmp_path / "out")
    assert r.exit_code == 1
    assert "broken.png" in r.output and "1 of 2 inputs failed" in r.output
    assert (tmp_path / "out" / "ok" / "jnd_wu2017.npy").is_file()
    assert not (tmp_path / "out" / "broken").exists()


def test_baseline_unknown_model(photos, tmp_path):
    r = invoke("baseline", "wu2099", photos / "cat.png", "-o", tmp_path)
    assert r.exit_code == 2
    assert "unknown JND baseline 'wu2099'" in r.output and "wu2017" in r.output


def test_baseline_then_inject_from_the_map(photos, tmp_path):
    assert invoke("baseline", "yang2005", photos / "cup.png", "-o", tmp_path).exit_code == 0
    jnd = tmp_path / "cup" / "jnd_yang2005.npy"
    out = tmp_path / "cup_26.png"
    r = invoke("inject", photos / "cup.png", "--jnd", jnd, "--psnr", "26.06", "-o", out)
    assert r.exit_code == 0, r.output
    record = json.loads(out.with_suffix(".json").read_text())  # OUT.json, as the README says
    assert not out.with_suffix(".png.json").exists()
    assert abs(record["psnr"] - 26.06) <= 0.01
    original = load_image(photos / "cup.png").astype(float)
    mse = np.mean((load_image(out).astype(float) - original) ** 2)
    assert abs(10 * np.log10(255**2 / mse) - 26.06) <= 0.01  # the file on disk, not the record


@pytest.mark.parametrize("suffix", [".jpg", ".jpeg", ".webp"])
def test_inject_refuses_lossy_output_before_any_work(photos, tmp_path, suffix):
    """A lossy file would not hold the PSNR solved for (the issue: 26.06 asked, 28.70 on disk)."""
    out = tmp_path / f"out{suffix}"
    r = invoke("inject", photos / "cup.png", "--model", "wu2017", "--psnr", "26.06", "-o", out)
    assert r.exit_code == 2, r.output
    assert "lossy" in r.output and ".png" in r.output and "Traceback" not in r.output
    assert list(tmp_path.iterdir()) == []  # nothing written, not even the JSON


@pytest.mark.parametrize("suffix", [".bmp", ".tif"])
def test_inject_reports_what_the_lossless_file_holds(photos, tmp_path, suffix):
    out = tmp_path / f"cup{suffix}"
    r = invoke("inject", photos / "cup.png", "--model", "wu2017", "--mse", "100", "-o", out)
    assert r.exit_code == 0, r.output
    record = json.loads(out.with_suffix(".json").read_text())
    original = load_image(photos / "cup.png").astype(float)
    on_disk = np.mean((load_image(out).astype(float) - original) ** 2)
    assert record["mse"] == pytest.approx(on_disk, rel=1e-12)  # float64 of the same uint8 sums
    assert f"MSE {on_disk:.2f}" in r.output


def test_inject_folder_by_mse(photos, tmp_path):
    r = invoke("inject", photos, "--model", "wu2017", "--mse", "100", "-o", tmp_path)
    assert r.exit_code == 0, r.output
    written = sorted(p.name for p in tmp_path.glob("*.png"))
    assert written == ["cat_wu2017_mse100.png", "cup_wu2017_mse100.png"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--model", "wu2017"], "exactly one of --psnr or --mse"),
        (["--model", "wu2017", "--psnr", "30", "--mse", "10"], "exactly one of --psnr or --mse"),
        (["--psnr", "30"], "exactly one of --jnd MAP.npy or --model NAME"),
        (["--jnd", "map.png", "--psnr", "30"], "takes a .npy map"),
    ],
)
def test_inject_argument_errors(photos, tmp_path, args, message):
    r = invoke("inject", photos / "cat.png", *args, "-o", tmp_path / "x.png")
    assert r.exit_code in (1, 2) and message in r.output, r.output
    assert "Traceback" not in r.output
    assert not (tmp_path / "x.png").exists()


def test_tiny_image_error_names_the_size(tmp_path):
    save_image(tmp_path / "tiny.png", np.zeros((10, 10, 3), np.uint8))
    r = invoke("baseline", "wu2017", tmp_path / "tiny.png", "-o", tmp_path / "o")
    assert r.exit_code == 1 and "10x10 pixels" in r.output


def test_missing_input(tmp_path):
    r = invoke("priors", tmp_path / "nope.png", "-o", tmp_path)
    assert r.exit_code == 2 and "no such file or folder" in r.output


def test_samples_without_clip(tmp_path):
    r = invoke("samples", "-o", tmp_path, "--no-clip")
    assert r.exit_code == 0, r.output
    assert load_image(tmp_path / "astronaut.png").shape == (512, 512, 3)
    assert not (tmp_path / "camera.mp4").exists()


def test_demo_on_a_folder(photos, tmp_path):
    r = invoke(
        "demo", "--data", photos, "--models", "wu2017,yang2005", "--no-deploy", "-o", tmp_path
    )
    assert r.exit_code == 0, r.output
    summary = (tmp_path / "summary.md").read_text()
    assert "| wu2017 |" in summary and "| yang2005 |" in summary
    assert "| mean JND (grey levels) |" in summary and "(dB) |" in summary  # units in headers
    side = load_image(tmp_path / "cat" / "side_by_side_wu2017.png")
    assert side.shape[1] == 3 * 128 + 16 and side.shape[0] > 96  # panels above a colour bar
    np.testing.assert_array_equal(side[:96, :128], load_image(photos / "cat.png"))
    jnd = np.load(tmp_path / "cat" / "jnd_wu2017.npy")
    from jndtf.render import colourize

    np.testing.assert_array_equal(side[:96, 136:264], colourize(jnd))  # the one renderer
    csv = (tmp_path / "summary.csv").read_text().splitlines()
    assert csv[0].startswith("model,") and len(csv) == 3
    for row in csv[1:]:
        assert abs(float(row.split(",")[3]) - 26.06) <= 0.01


def test_demo_rejects_unknown_model_before_work(tmp_path):
    r = invoke("demo", "--models", "nope", "-o", tmp_path)
    assert r.exit_code == 2 and "unknown JND model 'nope'" in r.output
    assert not tmp_path.joinpath("summary.md").exists()


def test_error_messages_keep_square_brackets():
    """A message naming an extra (pip install "jndtf[train]") must not lose it to rich markup."""
    import typer

    from jndtf.cli._shared import user_errors

    probe = typer.Typer()

    @probe.command()
    def fail() -> None:
        with user_errors():
            raise ImportError('needs the [train] extra: pip install "jndtf[train]"')

    result = CliRunner().invoke(probe, [])
    assert result.exit_code == 2
    assert 'pip install "jndtf[train]"' in result.output


def _commands(group=None, path=()):
    """Every command of the app as its argument path, e.g. ("eval", "jnd")."""
    import typer.main

    group = group or typer.main.get_command(app)
    for name, cmd in group.commands.items():
        if hasattr(cmd, "commands"):
            yield from _commands(cmd, (*path, name))
        else:
            yield (*path, name)


def test_help_texts_have_no_type_noise_and_keep_their_brackets():
    """Flags show no ``<bool>``; a ``[default: ...]`` written in a help text is printed, not
    swallowed as rich markup (which left "Stop after N frames ." behind)."""
    commands = list(_commands())
    assert ("stream",) in commands and ("eval", "jnd") in commands
    for path in [(), *commands]:
        r = runner.invoke(app, [*path, "--help"], env={"COLUMNS": "400", "TERMINAL_WIDTH": "400"})
        assert r.exit_code == 0, (path, r.output)
        text = " ".join(line.strip("│ ") for line in r.output.splitlines())
        assert "<bool>" not in text, path
        stray = re.search(r"\S \.(\s|$)", text)  # "frames ." but not "PNG + .npy"
        assert stray is None, (path, text[stray.start() - 80 : stray.end()] if stray else "")


def test_list_names_the_learned_models_too():
    r = invoke("list")
    assert r.exit_code == 0
    line = next(x for x in r.output.splitlines() if x.strip().startswith("acol "))
    assert "ACoL-JND" in line and "shipped weights" in line
    assert 'pip install "jndtf[train]"' in r.output  # the extra's name survives rich markup


def test_a_failing_file_does_not_hide_the_files_that_worked(photos, tmp_path):
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    (mixed / "broken.png").write_bytes(b"\x89PNG not really")
    for name in ("cat", "cup"):
        save_image(mixed / f"{name}.png", load_image(photos / f"{name}.png"))
    r = invoke("baseline", "yang2005", mixed, "-o", tmp_path / "out")
    assert r.exit_code == 1
    for name in ("cat", "cup"):  # one success line per file written, failures or not
        assert f"{name}.png: mean JND" in r.output
        assert "jnd_yang2005.npy" in r.output
    r = invoke("priors", mixed, "-o", tmp_path / "p", "--names", "saliency")
    assert r.exit_code == 1 and "cat.png: 1 maps" in r.output and "cup.png: 1 maps" in r.output


def _cli(*args: str, **kw):
    """`python -m jndtf.cli ARGS` in a fresh process, as a user runs it (stdout a pipe)."""
    import subprocess
    import sys

    return subprocess.Popen(
        [sys.executable, "-m", "jndtf.cli", *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kw,
    )


def test_lines_reach_a_pipe_as_files_finish(tmp_path):
    """stdout is a pipe (block-buffered): each file's line must still come when it is done,
    not at exit. The second file is large enough to take a few seconds."""
    save_image(tmp_path / "a_small.png", skimage.data.chelsea()[:64, :64])
    big = np.tile(skimage.data.chelsea(), (3, 2, 1))  # 900x902: wu2013 takes seconds
    save_image(tmp_path / "b_big.png", big)
    proc = _cli("baseline", "wu2013", tmp_path, "-o", tmp_path / "out")
    try:
        first = proc.stdout.readline()
        still_running = proc.poll() is None
    finally:
        out, err = proc.communicate(timeout=300)
    assert first.startswith("a_small.png: mean JND"), (first, err)
    assert still_running  # the line came before the big file finished
    assert "b_big.png: mean JND" in out and proc.returncode == 0
    assert err == ""  # no library chatter on stderr (no bar either: not a terminal)


def test_jpeg_trailer_is_one_warning_line_and_opencv_stays_quiet(photos, tmp_path):
    import cv2

    _, buf = cv2.imencode(".jpg", load_image(photos / "cat.png")[..., ::-1])
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "phone.jpg").write_bytes(buf.tobytes() + b"\0" * 200)
    (tmp_path / "in" / "cut.png").write_bytes((photos / "cup.png").read_bytes()[:300])
    proc = _cli("baseline", "yang2005", tmp_path / "in", "-o", tmp_path / "out")
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 1  # the cut PNG
    assert "phone.jpg: mean JND" in out
    lines = err.strip().splitlines()
    warned = [x for x in lines if x.startswith("warning: ")]
    assert len(warned) == 1 and "phone.jpg: 200 bytes after" in warned[0], err
    assert any(x.startswith("error: ") and "cut.png" in x for x in lines)
    # nothing else: no OpenCV "[ WARN:" / "[ERROR:" lines, no Python warning source lines
    assert all(x.startswith(("warning: ", "error: ", "1 of 2 inputs failed")) for x in lines), err
