"""CLI commands that need the [train] extra: `jndtf train ...` and `jndtf eval ...`."""

from __future__ import annotations

import json

import numpy as np
import pytest
import skimage.data
from typer.testing import CliRunner

from jndtf.cli import app
from jndtf.io import save_image

pytestmark = pytest.mark.tf
runner = CliRunner()


def test_train_aiqa_missing_folder(tmp_path):
    r = runner.invoke(
        app, ["train", "aiqa", "--data", str(tmp_path / "none"), "-o", str(tmp_path / "m.keras")]
    )
    assert r.exit_code == 2, r.output
    assert "none" in r.output and "Traceback" not in r.output
    assert not (tmp_path / "m.keras").exists()


def test_train_aiqa_tiny_run(tmp_path):
    photos = tmp_path / "photos"
    save_image(photos / "cat.png", skimage.data.chelsea()[:128, :128])
    save_image(photos / "cup.png", skimage.data.coffee()[:128, :128])
    out = tmp_path / "clf.keras"
    r = runner.invoke(
        app,
        [
            "train",
            "aiqa",
            "--data",
            str(photos),
            "-o",
            str(out),
            "--epochs",
            "1",
            "--steps",
            "1",
            "--batch-size",
            "4",
            "--crop-size",
            "32",
        ],
    )
    assert r.exit_code == 0, r.output
    assert out.is_file() and "held-out accuracy" in r.output
    manifest = json.loads(out.with_suffix(".json").read_text())
    assert manifest["family"] == "aiqa" and str(manifest["command"]).startswith("jndtf ")


def test_eval_jnd_on_a_folder(tmp_path):
    photos = tmp_path / "photos"
    save_image(photos / "cat.png", skimage.data.chelsea()[60:156, 150:278])
    out = tmp_path / "eval"
    r = runner.invoke(
        app,
        [
            "eval",
            "jnd",
            "--data",
            str(photos),
            "--models",
            "wu2017,uniform",
            "--metrics",
            "psnr,ssim",
            "-o",
            str(out),
        ],
    )
    assert r.exit_code == 0, r.output
    assert "ssim" in r.output and (out / "report.md").is_file()
    assert (out / "bars_ssim.png").is_file()


def test_eval_jnd_errors_before_work(tmp_path):
    r = runner.invoke(
        app,
        ["eval", "jnd", "--models", "wu2017", "--metrics", "sharpness", "-o", str(tmp_path / "e")],
    )
    assert r.exit_code == 2 and "sharpness" in r.output and "Traceback" not in r.output
    r = runner.invoke(
        app, ["eval", "jnd", "--psnr", "30", "--mse", "10", "-o", str(tmp_path / "e")]
    )
    assert r.exit_code == 2 and "at most one of --psnr or --mse" in r.output
    assert not (tmp_path / "e").exists()


def _photos(folder):
    save_image(folder / "cat.png", skimage.data.chelsea()[:96, :96])
    save_image(folder / "cup.png", skimage.data.coffee()[:96, :96])
    return folder


def tiny_acol_args(photos, run, cache) -> list[str]:
    """`jndtf train acol` arguments of a tiny, fast run (tiny width, 48 px crops, SSIM as L1)."""
    return [
        "train",
        "acol",
        "--data",
        str(photos),
        "-o",
        str(run),
        "--width",
        "tiny",
        "--epochs",
        "1",
        "--batch-size",
        "2",
        "--crop-size",
        "48",
        "--l1",
        "ssim",
        "--cache-dir",
        str(cache),
        "--no-tensorboard",
    ]


@pytest.fixture(scope="module")
def acol_run(tmp_path_factory):
    """One tiny `jndtf train acol` run shared by the tests below: (arguments, result, run dir)."""
    tmp = tmp_path_factory.mktemp("acol")
    run = tmp / "run"
    args = tiny_acol_args(_photos(tmp / "photos"), run, tmp / "cache")
    return args, runner.invoke(app, args), run


def test_train_acol_tiny_run_and_resume_guard(acol_run):
    args, r, run = acol_run
    assert r.exit_code == 0, r.output
    assert (run / "model.keras").is_file() and "final L1" in r.output
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["preset"] == "acol"
    r = runner.invoke(app, args)  # same folder again without --resume: refused, nothing lost
    assert r.exit_code == 2 and "Traceback" not in r.output, r.output
    assert (run / "model.keras").is_file()


def test_resume_without_a_checkpoint_is_refused(tmp_path):
    """A typo in --out must not silently start a new run (issue 15, point 7)."""
    photos = _photos(tmp_path / "photos")
    run = tmp_path / "typo-run"
    r = runner.invoke(app, [*tiny_acol_args(photos, run, tmp_path / "cache"), "--resume"])
    assert r.exit_code == 2, r.output
    assert "no checkpoint at" in r.output and "--resume-or-start" in r.output
    assert "Traceback" not in r.output and not run.exists()  # nothing started
    out = tmp_path / "sal" / "net.keras"
    args = ["train", "saliency", "--data", str(photos), "--masks", str(photos), "-o", str(out)]
    r = runner.invoke(app, [*args, "--resume"])
    assert r.exit_code == 2 and "no checkpoint at" in r.output and "net.ckpt.npz" in r.output
    assert not out.parent.exists()


def test_resume_or_start_says_which(acol_run, tmp_path):
    args, first, run = acol_run
    assert first.exit_code == 0, first.output
    empty = tmp_path / "empty"
    empty.mkdir()
    fresh = tiny_acol_args(empty, tmp_path / "new", tmp_path / "cache")
    r = runner.invoke(app, [*fresh, "--resume-or-start"])
    assert "no checkpoint at" in r.output and "starting a new run" in r.output
    assert r.exit_code == 2  # then the empty data folder is refused, in one line
    r = runner.invoke(app, [*args, "--resume-or-start"])
    assert r.exit_code == 0, r.output
    assert f"resuming from {run / 'checkpoints' / 'last.npz'}" in r.output.replace("\n", "")
    r = runner.invoke(app, [*args, "--resume", "--resume-or-start"])
    assert r.exit_code == 2 and "not both" in r.output


def test_train_saliency_tiny_run(tmp_path):
    from jndtf.data.saliency_pairs import write_toy_pairs

    images, masks = write_toy_pairs(tmp_path / "toy", count=4, size=(48, 64))
    out = tmp_path / "sal.keras"
    r = runner.invoke(
        app,
        [
            "train",
            "saliency",
            "--data",
            str(images),
            "--masks",
            str(masks),
            "-o",
            str(out),
            "--preset",
            "poolnet_tiny",
            "--epochs",
            "1",
            "--batch-size",
            "2",
            "--crop-size",
            "32",
            "--holdout-fraction",
            "0.25",
        ],
    )
    assert r.exit_code == 0, r.output
    assert out.is_file() and "held-out MAE" in r.output


def test_train_saliency_unmatched_masks(tmp_path):
    photos, masks = tmp_path / "p", tmp_path / "m"
    save_image(photos / "a.png", skimage.data.chelsea()[:64, :64])
    save_image(masks / "b.png", np.zeros((64, 64), np.uint8))
    r = runner.invoke(
        app,
        [
            "train",
            "saliency",
            "--data",
            str(photos),
            "--masks",
            str(masks),
            "-o",
            str(tmp_path / "s.keras"),
        ],
    )
    assert r.exit_code == 2 and "Traceback" not in r.output, r.output
    assert "a" in r.output and not (tmp_path / "s.keras").exists()


def test_jnd_command_with_a_trained_run(acol_run, tmp_path):
    _, r, run = acol_run
    assert r.exit_code == 0, r.output
    photos = _photos(tmp_path / "photos")
    r = runner.invoke(
        app, ["jnd", str(photos), "--model", str(run / "model.keras"), "-o", str(tmp_path / "maps")]
    )
    assert r.exit_code == 0, r.output
    jnd = np.load(tmp_path / "maps" / "cat" / "jnd_model.npy")
    assert jnd.shape == (96, 96, 3) and jnd.dtype == np.float32 and (jnd >= 0).all()


def test_jnd_command_unknown_model(tmp_path):
    save_image(tmp_path / "cat.png", skimage.data.chelsea()[:64, :64])
    r = runner.invoke(
        app, ["jnd", str(tmp_path / "cat.png"), "--model", "acol9", "-o", str(tmp_path / "o")]
    )
    assert r.exit_code == 2 and "unknown JND model 'acol9'" in r.output


def test_jnd_command_uses_the_shipped_acol_weights(tmp_path):
    save_image(tmp_path / "cat.png", skimage.data.chelsea()[40:136, 100:228])
    r = runner.invoke(app, ["jnd", str(tmp_path / "cat.png"), "-o", str(tmp_path / "o")])
    assert r.exit_code == 0, r.output
    jnd = np.load(tmp_path / "o" / "cat" / "jnd_acol.npy")
    assert jnd.shape == (96, 128, 3) and np.isfinite(jnd).all() and (jnd >= 0).all()
    assert 0.5 < float(jnd.mean()) < 50.0  # a trained map, in grey levels


def test_train_acol_with_a_trained_saliency_net(tmp_path):
    """--saliency-model replaces the classical f_va in training, is recorded in the manifest,
    and `jndtf jnd` uses the same net at inference."""
    from jndtf.evaluate.learned import load_learned
    from jndtf.models.inputs import model_input
    from jndtf.models.saliency import build_poolnet
    from jndtf.models.saliency_prior import SaliencyPrior

    sal = tmp_path / "sal.keras"
    build_poolnet("poolnet_tiny").save(sal)
    run = tmp_path / "run"
    r = runner.invoke(
        app,
        [
            *tiny_acol_args(_photos(tmp_path / "photos"), run, tmp_path / "cache"),
            "--saliency-model",
            str(sal),
        ],
    )
    assert r.exit_code == 0, r.output
    record = json.loads((run / "manifest.json").read_text())["inputs"]["prior_overrides"]
    prior = SaliencyPrior(sal)
    assert record["saliency"]["model_sha256"] == prior.model_sha256
    learned = load_learned(run / "model.keras")
    image = skimage.data.chelsea()[:96, :96]
    x = model_input(image, learned.priors, overrides=learned.prior_overrides)
    np.testing.assert_allclose(x[..., 5], prior(image), atol=1e-6)  # f_va is the net's map
    assert not np.allclose(x[..., 5], model_input(image, learned.priors)[..., 5])
    r = runner.invoke(
        app,
        [
            "jnd",
            str(tmp_path / "photos"),
            "--model",
            str(run / "model.keras"),
            "-o",
            str(tmp_path / "maps"),
        ],
    )
    assert r.exit_code == 0, r.output


def test_missing_saliency_model_is_refused_before_work(tmp_path):
    r = runner.invoke(
        app,
        [
            "train",
            "acol",
            "--data",
            str(_photos(tmp_path / "p")),
            "-o",
            str(tmp_path / "run"),
            "--saliency-model",
            str(tmp_path / "no.keras"),
        ],
    )
    assert r.exit_code == 2 and "no.keras does not exist" in r.output, r.output
    assert not (tmp_path / "run").exists()


def test_tensorflow_start_up_lines_stay_off_stderr(tmp_path):
    """TensorFlow logs its CUDA-driver probe, oneDNN and CPU-feature notices through absl at
    import, past TF_CPP_MIN_LOG_LEVEL; the CLI must not pass them on (issue 15, point 7)."""
    import subprocess
    import sys

    save_image(tmp_path / "cat.png", skimage.data.chelsea()[:64, :96])
    proc = subprocess.run(
        [sys.executable, "-m", "jndtf.cli", "jnd", str(tmp_path / "cat.png"), "-o", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    assert "cat.png: mean JND" in proc.stdout
    assert proc.stderr == ""  # was: "... cudart_stub.cc:31] Could not find cuda drivers ..."
