"""train_acol: outputs and manifest, exact resume (per epoch and after Ctrl-C mid-epoch), the
NaN stop, config errors, mixed precision / XLA, the JAX backend and distributed training.

Every run is tiny: the ``tiny`` width, 32 px crops of five shrunk sample photos, batch 4, three
steps per epoch, and a plain SSIM loss as L1 (A-IQA's MS-SSIM needs 176 px crops).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from test_image_folder import small_photos

pytestmark = pytest.mark.tf
keras = pytest.importorskip("keras")

from jndtf.data.image_folder import ImageFolderDataset  # noqa: E402
from jndtf.io import load_image, save_image  # noqa: E402
from jndtf.train.acol import (  # noqa: E402
    AcolTrainConfig,
    CheckpointMismatchError,
    NonFiniteLossError,
    TrainingInterrupted,
    read_checkpoint,
    train_acol,
)

REPO = Path(__file__).resolve().parents[1]

#: Tolerances. Resumed runs replay the same float operations on the same machine: exact.
#: Distributed runs sum per-replica gradients in another order: float32 round-off only.
RESUME_ATOL = 0.0
DISTRIBUTED_RTOL = 1e-4


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    folder = tmp_path_factory.mktemp("acol_photos")
    small_photos(folder)
    return folder


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("acol_cache")


def tiny(data, cache, output_dir, **kw) -> AcolTrainConfig:
    settings = dict(
        data_dir=str(data),
        output_dir=Path(output_dir),  # a Path, as the Python API allows: the manifest takes it
        preset="acol",
        width="tiny",
        epochs=2,
        steps_per_epoch=3,
        batch_size=4,
        crop_size=32,
        learning_rate=1e-3,
        l1="ssim",
        # zero padding: with reflect padding (the training default) a mirrored 2-replica run
        # drifts from the single-device one by up to 3e-4 after 6 steps (the pads' gradient sums
        # in another order and the §3.4 threshold flips); borders are tested in test_borders.py
        padding="zeros",
        cache_dir=Path(cache),
        tensorboard=False,
        command="pytest",
    )
    settings.update(kw)
    return AcolTrainConfig(**settings)


def weights_of(output_dir) -> list[np.ndarray]:
    return read_checkpoint(Path(output_dir) / "checkpoints" / "last.npz")[1]


@pytest.fixture(scope="module")
def reference(data, cache, tmp_path_factory):
    """One uninterrupted 2-epoch run, and the per-step events it reported."""
    out = tmp_path_factory.mktemp("reference")
    events = []
    result = train_acol(tiny(data, cache, out), progress=events.append)
    return out, result, events


def test_outputs_manifest_and_progress(reference, data, cache):
    out, result, events = reference
    assert result.epochs == 2 and result.resumed_from is None
    for p in (result.model_path, result.manifest_path, result.checkpoint_path):
        assert p.is_file()
    assert not [p for p in out.rglob(".*")], "temporary files left behind"

    steps = [e for e in events if e.phase == "train"]
    assert [(e.epoch, e.step) for e in steps] == [(1, 1), (1, 2), (1, 3), (2, 1), (2, 2), (2, 3)]
    assert [e.global_step for e in steps] == [1, 2, 3, 4, 5, 6]
    assert all(e.total_steps == 6 for e in steps)
    for e in steps:
        assert e.total == pytest.approx(1.0 * e.l1 + 0.1 * e.l2, rel=1e-5)  # eq. (6)
    epochs = [e for e in events if e.phase == "epoch"]
    assert epochs[-1].total == pytest.approx(np.mean([e.total for e in steps[3:]]), rel=1e-6)
    assert [e.phase for e in events[:5]] == ["inputs"] * 5

    m = json.loads(result.manifest_path.read_text())
    assert (m["family"], m["preset"], m["width"]) == ("acol", "acol", "tiny")
    assert m["inputs"]["channels"] == 6
    assert m["inputs"]["priors"] == ["pattern_masking", "contrast_masking", "saliency"]
    assert [c["name"] for c in m["inputs"]["normalization"]["channels"]][3:] == m["inputs"][
        "priors"
    ]
    assert m["outputs"] == {"channels": 3, "jnd_units": "pixel values 0..255"}
    d = m["training"]["data"]
    assert d["folder"] == str(data) and d["num_images"] == 5 and len(d["images"]) == 5
    assert m["training"]["settings"]["learning_rate"] == 1e-3 and m["command"] == "pytest"
    assert m["training"]["settings"]["output_dir"] == str(out)
    assert m["training"]["final_losses"] == result.final_losses
    assert len(m["training"]["history"]) == 2 and m["versions"]["jndtf"]
    from jndtf.train._common import sha256_file

    assert m["sha256"] == sha256_file(result.model_path)

    model = keras.saving.load_model(result.model_path, compile=False)
    ds = ImageFolderDataset(data, crop_size=32, batch_size=2, cache_dir=cache)
    x = ds.batch(0, 0)[0]
    jnd = np.asarray(model(x))
    assert jnd.shape == (2, 32, 32, 3) and np.all(jnd >= 0) and np.all(np.isfinite(jnd))
    for a, b in zip(model.get_weights(), weights_of(out), strict=True):
        np.testing.assert_array_equal(a, b)


def test_resume_after_an_epoch_equals_the_uninterrupted_run(reference, data, cache, tmp_path):
    out, ref, _ = reference
    first = train_acol(tiny(data, cache, tmp_path, epochs=1))
    assert first.epochs == 1
    resumed = train_acol(tiny(data, cache, tmp_path, epochs=2, resume=True))
    assert resumed.resumed_from == (1, 0) and resumed.epochs == 2
    assert resumed.history == ref.history  # per-epoch means, bit for bit
    for a, b in zip(weights_of(tmp_path), weights_of(out), strict=True):
        np.testing.assert_allclose(a, b, rtol=0, atol=RESUME_ATOL)
    _, _, opt_a = read_checkpoint(tmp_path / "checkpoints" / "last.npz")
    _, _, opt_b = read_checkpoint(out / "checkpoints" / "last.npz")
    for a, b in zip(opt_a, opt_b, strict=True):  # Adam moments and the iteration count
        np.testing.assert_array_equal(a, b)


def test_ctrl_c_checkpoints_mid_epoch_and_resumes_exactly(reference, data, cache, tmp_path):
    out, ref, _ = reference

    def press_ctrl_c(p):
        if p.phase == "train" and p.global_step == 2:
            os.kill(os.getpid(), signal.SIGINT)

    before = signal.getsignal(signal.SIGINT)  # SIG_IGN under `nohup`/background CI shells
    with pytest.raises(TrainingInterrupted) as info:
        train_acol(tiny(data, cache, tmp_path), progress=press_ctrl_c)
    assert (info.value.epoch, info.value.step) == (0, 2)
    meta, _, _ = read_checkpoint(info.value.checkpoint)
    assert (meta["epoch"], meta["step"]) == (0, 2) and meta["partial"]["steps"] == 2
    assert signal.getsignal(signal.SIGINT) is before  # the caller's handler is restored

    resumed = train_acol(tiny(data, cache, tmp_path, resume=True))
    assert resumed.resumed_from == (0, 2)
    np.testing.assert_allclose(
        [h["total"] for h in resumed.history], [h["total"] for h in ref.history], rtol=1e-6
    )
    for a, b in zip(weights_of(tmp_path), weights_of(out), strict=True):
        np.testing.assert_allclose(a, b, rtol=0, atol=RESUME_ATOL)


@pytest.mark.slow
def test_kill_9_loses_at_most_the_epoch_in_progress(reference, data, cache, tmp_path):
    out, ref, _ = reference
    code = textwrap.dedent(
        f"""
        import os, signal
        from pathlib import Path
        from test_train_acol import tiny
        from jndtf.train.acol import train_acol

        def kill_9(p):
            if p.phase == "train" and p.global_step == 5:
                os.kill(os.getpid(), signal.SIGKILL)

        data, cache, out = (Path(p) for p in {[str(data), str(cache), str(tmp_path)]!r})
        train_acol(tiny(data, cache, out), progress=kill_9)
        """
    )
    proc = run_python(code, {})
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
    meta = read_checkpoint(tmp_path / "checkpoints" / "last.npz")[0]
    assert (meta["epoch"], meta["step"]) == (1, 0)  # epoch 1 kept, epoch 2's steps lost
    resumed = train_acol(tiny(data, cache, tmp_path, resume=True))
    assert resumed.history == ref.history
    for a, b in zip(weights_of(tmp_path), weights_of(out), strict=True):
        np.testing.assert_allclose(a, b, rtol=0, atol=RESUME_ATOL)


def test_nan_stops_the_run_names_the_batch_and_keeps_the_checkpoint(
    data, cache, tmp_path, monkeypatch
):
    real_batch = ImageFolderDataset.batch

    def poisoned(self, epoch, step):
        x, rgb = real_batch(self, epoch, step)
        if (epoch, step) == (1, 1):
            x[0] = np.nan
        return x, rgb

    monkeypatch.setattr(ImageFolderDataset, "batch", poisoned)
    ckpt = tmp_path / "checkpoints" / "last.npz"
    saved = {}

    def keep_epoch_checkpoint(p):
        if p.phase == "epoch":
            saved[p.epoch] = ckpt.read_bytes()

    with pytest.raises(NonFiniteLossError) as info:
        train_acol(tiny(data, cache, tmp_path), progress=keep_epoch_checkpoint)
    err = info.value
    assert (err.epoch, err.step) == (2, 2)
    ds = ImageFolderDataset(data, crop_size=32, batch_size=4, steps_per_epoch=3, cache_dir=cache)
    assert err.files == ds.batch_files(1, 1)
    assert all(name in str(err) for name in set(err.files))
    assert "epoch 2, step 2" in str(err) and err.checkpoint == ckpt
    assert ckpt.read_bytes() == saved[1]  # the last good checkpoint, untouched
    assert read_checkpoint(ckpt)[0]["epoch"] == 1
    assert not (tmp_path / "model.keras").exists()


def test_resume_refuses_other_settings(reference, data, cache, tmp_path):
    out, _, _ = reference
    with pytest.raises(FileExistsError, match="resume=True"):
        train_acol(tiny(data, cache, out))
    with pytest.raises(CheckpointMismatchError, match="preset='acol' in the checkpoint, 'bl' now"):
        train_acol(tiny(data, cache, out, preset="bl", resume=True))
    with pytest.raises(CheckpointMismatchError, match="learning_rate"):
        train_acol(tiny(data, cache, out, learning_rate=2e-3, resume=True))
    changed = tmp_path / "changed"
    shutil.copytree(data, changed)
    img = load_image(changed / "coffee.png")
    save_image(changed / "coffee.png", 255 - img)
    with pytest.raises(CheckpointMismatchError, match="training images differ"):
        train_acol(tiny(changed, cache, out, resume=True))


@pytest.mark.parametrize("preset, channels", [("bl", 5), ("bl_acol", 5), ("bl_pmcm", 6)])
def test_every_acol_preset_trains(preset, channels, data, cache, tmp_path):
    result = train_acol(tiny(data, cache, tmp_path, preset=preset, epochs=1, steps_per_epoch=1))
    manifest = json.loads(result.manifest_path.read_text())
    assert manifest["preset"] == preset and manifest["inputs"]["channels"] == channels
    assert np.isfinite(result.final_losses["total"])


@pytest.mark.slow
def test_aiqa_l1_at_the_papers_crop_size(cache, tmp_path):
    from jndtf.samples import write_samples

    write_samples(tmp_path / "photos")
    config = tiny(
        tmp_path / "photos",
        cache,
        tmp_path / "run",
        l1="aiqa",
        crop_size=176,
        epochs=1,
        steps_per_epoch=2,
        batch_size=2,
    )
    result = train_acol(config)
    assert np.isfinite(result.final_losses["total"]) and result.final_losses["l1"] >= 0
    l1 = json.loads(result.manifest_path.read_text())["training"]["loss"]["l1"]
    assert l1["name"] == "aiqa" and len(l1["classifier_sha256"]) == 64


@pytest.mark.parametrize(
    "change, message",
    [
        ({"batch_size": 0}, "batch_size must be an integer >= 1"),
        ({"crop_size": 16}, "crop_size must be an integer >= 32"),
        ({"epochs": 0}, "epochs must be an integer >= 1"),
        ({"learning_rate": 0.0}, "learning_rate must be a finite number > 0"),
        ({"delta": 0.0, "eta": 0.0}, "both 0"),
        ({"eta": float("nan")}, "eta must be a finite number"),
        ({"preset": "dmv"}, "not an ACoL-JND model; choose from acol, bl, bl_acol, bl_pmcm"),
        ({"width": "huge"}, "unknown width"),
        ({"distribution": "ring"}, "unknown distribution"),
        ({"aiqa_classifier": "x.keras"}, "applies to l1='aiqa'"),
        ({"data_dir": " "}, "data_dir is empty"),
    ],
)
def test_config_errors(change, message, tmp_path):
    with pytest.raises(ValueError, match=message):
        tiny("photos", tmp_path, tmp_path, **change)


def test_data_errors_come_before_training(data, cache, tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        train_acol(tiny(tmp_path / "missing", cache, tmp_path / "a"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="holds no images"):
        train_acol(tiny(tmp_path / "empty", cache, tmp_path / "b"))
    with pytest.raises(ValueError, match="larger than the smallest image"):
        train_acol(tiny(data, cache, tmp_path / "c", crop_size=96))
    with pytest.raises(ValueError, match="cannot run on 32 px crops"):
        train_acol(tiny(data, cache, tmp_path / "d", l1="ms_ssim"))
    assert not (tmp_path / "c" / "checkpoints").exists()


def test_mixed_precision_runs_and_saves_a_float32_model(data, cache, tmp_path):
    mixed = train_acol(tiny(data, cache, tmp_path / "mixed", epochs=1, mixed_precision=True))
    assert np.isfinite(mixed.final_losses["total"])
    model = keras.saving.load_model(mixed.model_path, compile=False)
    assert {layer.dtype_policy.name for layer in model.layers} == {"float32"}
    assert keras.config.dtype_policy().name == "float32"  # global policy restored
    meta = read_checkpoint(mixed.checkpoint_path)[0]
    assert any("loss_scale" in p for p in meta["optimizer_paths"])


@pytest.mark.slow
def test_xla_matches_graph_mode(data, cache, tmp_path, reference):
    _, ref, _ = reference
    xla = train_acol(tiny(data, cache, tmp_path, epochs=1, jit_compile=True))
    # XLA fuses and reorders float32 ops, and an epoch of Adam steps carries that rounding into the
    # weights: with the signed injection (L1 sees noise, not a brightening) the two runs end
    # 2.1e-4 apart (relative) on an AVX-512 box. 1e-3 still catches a lost term: delta*L1 alone
    # is ~1 % of the total at this point.
    assert xla.history[0]["total"] == pytest.approx(ref.history[0]["total"], rel=1e-3)


def test_tensorboard_logs_or_a_warning(data, cache, tmp_path):
    import importlib.util

    config = tiny(data, cache, tmp_path, epochs=1, steps_per_epoch=1, tensorboard=True)
    if importlib.util.find_spec("tensorboard") is None:
        with pytest.warns(UserWarning, match="TensorBoard logs skipped"):
            train_acol(config)
        assert not (tmp_path / "logs").exists()
    else:
        train_acol(config)
        assert list((tmp_path / "logs").rglob("events.out.tfevents.*"))


# ------------------------------------------------------------------------- other processes


def run_python(code: str, env_extra: dict, timeout: int = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": f"{REPO}:{REPO / 'tests'}", "TF_CPP_MIN_LOG_LEVEL": "3"}
    env.update(env_extra)
    return subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=timeout
    )


def child_run(extra: str, paths, **settings) -> str:
    return textwrap.dedent(extra) + textwrap.dedent(
        f"""
        import json
        from pathlib import Path
        from test_train_acol import tiny
        from jndtf.train.acol import train_acol
        data, cache, out = (Path(p) for p in {[str(p) for p in paths]!r})
        result = train_acol(tiny(data, cache, out, **{settings!r}))
        print("RESULT", json.dumps({{"history": result.history, "replicas": result.replicas}}))
        """
    )


def parse_result(proc: subprocess.CompletedProcess) -> dict:
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, proc.stderr[-3000:]
    return json.loads(lines[-1][len("RESULT ") :])


def test_jax_backend_trains_and_its_model_loads_under_tensorflow(data, cache, tmp_path):
    pytest.importorskip("jax")
    out = tmp_path / "jax"
    proc = run_python(
        child_run("", (data, cache, out), epochs=1),
        {"KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu"},
    )
    result = parse_result(proc)
    history = result["history"]
    assert len(history) == 1 and np.isfinite(history[0]["total"])
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["versions"]["backend"] == "jax"
    model = keras.saving.load_model(out / "model.keras", compile=False)  # this process: TF
    assert model(np.zeros((1, 32, 32, 6), np.float32)).shape == (1, 32, 32, 3)


@pytest.mark.slow
def test_jax_data_parallel_matches_one_device(data, cache, tmp_path):
    pytest.importorskip("jax")
    code = child_run("", (data, cache, tmp_path / "one"), epochs=1, distribution="none")
    two = child_run("", (data, cache, tmp_path / "two"), epochs=1, distribution="data_parallel")
    env = {
        "KERAS_BACKEND": "jax",
        "JAX_PLATFORMS": "cpu",
        "XLA_FLAGS": "--xla_force_host_platform_device_count=2",
    }
    one_result = parse_result(run_python(code, env))
    two_result = parse_result(run_python(two, env))
    assert (one_result["replicas"], two_result["replicas"]) == (1, 2)
    np.testing.assert_allclose(
        two_result["history"][0]["total"], one_result["history"][0]["total"], rtol=1e-4
    )


LOGICAL_CPUS = """
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
"""


def test_mirrored_two_replicas_match_one_device(data, cache, tmp_path, reference):
    _, ref, _ = reference
    code = child_run(
        LOGICAL_CPUS, (data, cache, tmp_path), distribution="mirrored", devices=("/cpu:0", "/cpu:1")
    )
    result = parse_result(run_python(code, {}))
    assert result["replicas"] == 2
    np.testing.assert_allclose(
        [h["total"] for h in result["history"]],
        [h["total"] for h in ref.history],
        rtol=DISTRIBUTED_RTOL,
    )
    for a, b in zip(weights_of(tmp_path), weights_of(reference[0]), strict=True):
        np.testing.assert_allclose(a, b, rtol=DISTRIBUTED_RTOL, atol=1e-6)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_two_workers_on_loopback_match_one_worker(data, cache, tmp_path, reference):
    _, ref, _ = reference
    ports = [free_port(), free_port()]
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    code = child_run("", (data, cache, tmp_path), distribution="multi_worker")
    env = {**os.environ, "PYTHONPATH": f"{REPO}:{REPO / 'tests'}", "TF_CPP_MIN_LOG_LEVEL": "3"}
    procs = []
    for index in range(2):
        tf_config = json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})
        procs.append(
            subprocess.Popen(
                [sys.executable, "-c", code],
                env={**env, "TF_CONFIG": tf_config},
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    results = []
    for proc in procs:
        stdout, stderr = proc.communicate(timeout=300)
        results.append(
            parse_result(subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr))
        )
    assert [r["replicas"] for r in results] == [2, 2]
    assert results[0]["history"] == results[1]["history"]  # both workers saw the global losses
    np.testing.assert_allclose(
        [h["total"] for h in results[0]["history"]],
        [h["total"] for h in ref.history],
        rtol=DISTRIBUTED_RTOL,
    )
    assert (tmp_path / "model.keras").is_file()  # the chief wrote the outputs
    for a, b in zip(weights_of(tmp_path), weights_of(reference[0]), strict=True):
        np.testing.assert_allclose(a, b, rtol=DISTRIBUTED_RTOL, atol=1e-6)
