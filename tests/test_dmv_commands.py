"""`jndtf dmv` and `jndtf eval dmv` (issue #11) on tiny untrained CAM classifiers and E-D nets.

Independent references: the classifiers' labels come from calling the saved Keras models here;
the perturbed images from numpy (``clip(x + e)``, ``np.rint``) or from a DMV net whose output is
a known constant (all kernels zero, the last bias set), so an RCA is a count this file makes;
resizing from ``cv2.resize``; the homogeneous scales from ``fractions.Fraction``.
"""

from __future__ import annotations

import csv
import json
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

pytestmark = pytest.mark.tf

import jndtf.cli.dmv  # noqa: E402,F401  (registers `jndtf dmv` / `jndtf eval dmv` before the lead's import list does)
from jndtf.cli import app  # noqa: E402
from jndtf.evaluate import dmv as lib  # noqa: E402
from jndtf.io import load_image, save_image  # noqa: E402

runner = CliRunner()
WIDE = {"COLUMNS": "200", "TERMINAL_WIDTH": "200"}
TINY = {
    "alexnet": "alexnet_tiny",
    "vgg": "vgg_tiny",
    "resnet": "resnet_tiny",
    "densenet": "densenet_tiny",
}
#: e of the constant DMV net, in pixels (a bias of 0.1 times the net's 127.5 px per unit).
CONST_E = 0.1 * 127.5


def _predict(model, images) -> np.ndarray:
    x = np.asarray(images, np.float32) / 255.0
    return np.argmax(np.asarray(model(x, training=False)), axis=-1)


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """Four tiny CAM classifiers as NAME.keras, a dmv_tiny net, a constant-e net and a tiny
    MobileNet (the unseen fifth), untrained with fixed seeds; BN statistics perturbed so the
    classifiers do not all give one label."""
    import keras

    from jndtf.models.classifiers import build_cam_classifier
    from jndtf.models.classifiers.mobilenet import build_mobilenet
    from jndtf.models.dmv import build_dmv_net

    root = tmp_path_factory.mktemp("dmv_models")
    folder = root / "classifiers"
    folder.mkdir()
    keras.utils.set_random_seed(3)
    for role, preset in TINY.items():
        build_cam_classifier(preset).save(folder / f"{role}.keras")
    build_dmv_net("dmv_tiny").save(root / "dmv.keras")
    const = build_dmv_net("dmv_tiny")
    for layer in const.layers:
        weights = layer.get_weights()
        if weights and layer.name == "e_out":
            layer.set_weights([np.zeros_like(weights[0]), np.full_like(weights[1], 0.1)])
        elif weights and hasattr(layer, "kernel"):
            layer.set_weights([np.zeros_like(w) for w in weights])
    const.save(root / "const.keras")
    build_mobilenet("mobilenet_tiny").save(root / "mobilenet.keras")
    inp = keras.Input((32, 32, 3))
    plain = keras.layers.Dense(10)(keras.layers.GlobalAveragePooling2D()(inp))
    keras.Model(inp, plain).save(root / "nocam.keras")  # a classifier without CAM layers
    return root


@pytest.fixture(scope="module")
def loaded(models):
    return lib.load_classifiers(models / "classifiers")


def _images(n: int, seed: int = 0, size=(32, 32)) -> np.ndarray:
    rng = np.random.default_rng(seed)
    w, h = size
    base = rng.integers(0, 256, (n, 1, 1, 3))
    noise = rng.integers(-60, 61, (n, h, w, 3))
    return np.clip(base + noise, 0, 255).astype(np.uint8)


def _read_csv(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _dmv_args(models: Path, *rest: str) -> list[str]:
    return [*rest, "--dmv", str(models / "dmv.keras"), "--classifiers", str(models / "classifiers")]


# --------------------------------------------------------------------------- library pieces


def test_equal_energy_noise_has_the_energy_of_e_per_image():
    rng = np.random.default_rng(1)
    e = rng.normal(0, 7, (5, 32, 32, 3)).astype(np.float32) * np.arange(5)[:, None, None, None]
    n = lib.equal_energy_noise(e, np.random.default_rng(0))
    e64 = e.astype(np.float64)
    # float64 sums of 3072 squares: relative rounding ~1e-15, 1e-12 leaves margin
    np.testing.assert_allclose((n**2).sum(axis=(1, 2, 3)), (e64**2).sum(axis=(1, 2, 3)), rtol=1e-12)
    assert np.all(n[0] == 0)  # e = 0 (first image scaled by 0): no noise
    assert abs(np.corrcoef(n[1:].ravel(), e64[1:].ravel())[0, 1]) < 0.05  # independent of e


def test_homogeneous_scales_are_eight_ninths_down_to_one_ninth():
    assert lib.HOMOGENEOUS_FRACTIONS == tuple(Fraction(k, 9) for k in (8, 7, 6, 5, 4, 3, 2, 1))
    assert lib.HOMOGENEOUS_SCALES == tuple(k / 9 for k in (8, 7, 6, 5, 4, 3, 2, 1))


def test_missing_classifier_is_named(tmp_path, models):
    folder = tmp_path / "two"
    folder.mkdir()
    for role in ("alexnet", "resnet"):
        (folder / f"{role}.keras").write_bytes(
            (models / "classifiers" / f"{role}.keras").read_bytes()
        )
    with pytest.raises(FileNotFoundError, match=r"vgg\.keras, densenet\.keras"):
        lib.classifier_paths(folder)
    save_image(tmp_path / "in" / "a.png", _images(1)[0])
    out = tmp_path / "out"
    r = runner.invoke(
        app,
        [
            "dmv",
            str(tmp_path / "in"),
            "-o",
            str(out),
            "--dmv",
            str(models / "dmv.keras"),
            "--classifiers",
            str(folder),
        ],
    )
    assert r.exit_code == 2, r.output
    assert "vgg.keras" in r.output and "densenet.keras" in r.output and "Traceback" not in r.output
    assert not out.exists()


def test_a_wrong_model_is_refused_by_name(tmp_path, models):
    with pytest.raises(ValueError, match="not a DMV-JND-NET"):
        lib.load_dmv_net(models / "classifiers" / "vgg.keras")
    folder = tmp_path / "clf"
    folder.mkdir()
    for role in TINY:
        src = models / ("dmv.keras" if role == "vgg" else f"classifiers/{role}.keras")
        (folder / f"{role}.keras").write_bytes(src.read_bytes())
    with pytest.raises(ValueError, match=r"vgg\.keras.*RGB"):
        lib.load_classifiers(folder)
    with pytest.raises(ValueError, match="no 'cam_features'"):
        lib.load_classifier(models / "nocam.keras", "a classifier")
    assert lib.load_classifier(models / "nocam.keras", "unseen", cam=False) is not None
    save_image(tmp_path / "in" / "a.png", _images(1)[0])
    out = tmp_path / "out"
    r = runner.invoke(
        app,
        [
            "dmv",
            str(tmp_path / "in"),
            "-o",
            str(out),
            "--dmv",
            str(models / "classifiers" / "vgg.keras"),
            "--classifiers",
            str(models / "classifiers"),
        ],
    )
    assert r.exit_code == 2 and "vgg.keras" in r.output and "Traceback" not in r.output
    assert not out.exists()


# --------------------------------------------------------------------------- jndtf dmv


def test_dmv_writes_documented_files_and_labels_match_a_direct_predict(tmp_path, models, loaded):
    src = tmp_path / "in"
    x = _images(4, seed=2)
    save_image(src / "a.png", x[0])
    save_image(src / "sub" / "b.png", x[1])
    save_image(src / "sub" / "c.bmp", x[2])
    big = _images(1, seed=5, size=(48, 40))[0]
    save_image(src / "big.png", big)
    out = tmp_path / "out"
    r = runner.invoke(app, ["dmv", str(src), "-o", str(out), *_dmv_args(models)])
    assert r.exit_code == 0, r.output
    assert "resized" in r.output and "uint8" in r.output
    expect = {
        "a": x[0],
        "sub/b": x[1],
        "sub/c": x[2],
        "big": cv2.resize(big, (32, 32), interpolation=cv2.INTER_AREA),
    }
    for rel, original in expect.items():
        png, npy = out / f"{rel}.png", out / f"{rel}_e.npy"
        assert png.is_file() and npy.is_file(), rel
        e = np.load(npy)
        assert e.dtype == np.float32 and e.shape == (32, 32, 3)
        want = np.clip(np.rint(original.astype(np.float64) + e), 0, 255).astype(np.uint8)
        np.testing.assert_array_equal(load_image(png, min_side=1), want)  # lossless PNG
    rows = {row["image"]: row for row in _read_csv(out / "labels.csv")}
    assert set(rows) == {f"{k}.png" for k in expect}
    assert rows["big.png"]["resized_from"] == "48x40" and rows["a.png"]["resized_from"] == ""
    for role, model in loaded.items():
        for rel, original in expect.items():
            row = rows[f"{rel}.png"]
            e = np.load(out / f"{rel}_e.npy")
            x_hat = np.clip(original.astype(np.float32) + e, 0, 255)
            png = load_image(out / f"{rel}.png", min_side=1)
            assert int(row[f"{role}_before"]) == _predict(model, original[None])[0]
            assert int(row[f"{role}_after"]) == _predict(model, x_hat[None])[0]
            assert int(row[f"{role}_after_uint8"]) == _predict(model, png[None])[0]
    summary = json.loads((out / "summary.json").read_text())
    for role in loaded:
        agreed = sum(rows[k][f"{role}_before"] == rows[k][f"{role}_after_uint8"] for k in rows)
        assert summary["rca_uint8"][role] == agreed / len(rows)


def test_dmv_no_resize_refuses_and_writes_nothing(tmp_path, models):
    src = tmp_path / "in"
    save_image(src / "ok.png", _images(1)[0])
    save_image(src / "wide.png", _images(1, size=(40, 32))[0])
    out = tmp_path / "out"
    r = runner.invoke(app, ["dmv", str(src), "-o", str(out), "--no-resize", *_dmv_args(models)])
    assert r.exit_code == 2, r.output
    assert "wide.png" in r.output and "40x32" in r.output and "Traceback" not in r.output
    assert not out.exists()


def test_help_of_both_commands():
    for path in (["dmv"], ["eval", "dmv"]):
        r = runner.invoke(app, [*path, "--help"], env=WIDE)
        assert r.exit_code == 0, r.output
        for flag in ("--dmv", "--classifiers", "--out"):
            assert flag in r.output
    r = runner.invoke(app, ["eval", "dmv", "--help"], env=WIDE)
    for flag in ("--unseen", "--val-size", "--seed", "--max-images", "--noise-seed"):
        assert flag in r.output


# --------------------------------------------------------------------------- jndtf eval dmv


def _write_set(root: Path, per_class: int = 6, classes: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """A class-per-folder tree; returns (images, labels) in the reader's order (by class, name)."""
    xs, ys = [], []
    for c in range(classes):
        imgs = _images(per_class, seed=10 + c)
        for i, img in enumerate(imgs):
            save_image(root / f"class{c}" / f"{i:03d}.png", img)
            xs.append(img)
            ys.append(c)
    return np.stack(xs), np.array(ys)


def test_eval_dmv_rca_is_a_hand_count_and_files_appear(tmp_path, models, loaded):
    from jndtf.data.classification import read_classification, stratified_split

    data = tmp_path / "set"
    _write_set(data)
    out = tmp_path / "eval"
    r = runner.invoke(
        app,
        [
            "eval",
            "dmv",
            "--data",
            str(data),
            "-o",
            str(out),
            "--dmv",
            str(models / "const.keras"),
            "--classifiers",
            str(models / "classifiers"),
            "--unseen",
            str(models / "mobilenet.keras"),
            "--val-size",
            "9",
        ],
    )
    assert r.exit_code == 0, r.output
    for name in (
        "rca.csv",
        "rca.md",
        "homogeneous.csv",
        "homogeneous.md",
        "labels.csv",
        "summary.json",
        "report.md",
        "plots/rca_vs_scale.png",
        "plots/rca_dmv_vs_wgn.png",
    ):
        assert (out / name).is_file(), name
    assert cv2.imread(str(out / "plots" / "rca_vs_scale.png")) is not None
    images, labels, _ = read_classification(data)
    _, val = stratified_split(labels, 9, 0)
    x = images[val]
    assert len(val) == 9
    rca = {row["classifier"]: row for row in _read_csv(out / "rca.csv")}
    homo = _read_csv(out / "homogeneous.csv")
    # the paper's e_1..e_8 (Sec. V-F), written k/9 as there, after e itself
    assert [row["scale"] for row in homo] == ["1", *(f"{k}/9" for k in range(8, 0, -1))]
    assert [Fraction(row["scale"]) for row in homo] == [Fraction(k, 9) for k in range(9, 0, -1)]
    unseen = lib.load_keras(models / "mobilenet.keras", "unseen")
    scored = {**loaded, "unseen:mobilenet": unseen}
    for name, model in scored.items():
        before = _predict(model, x)
        # the constant net's e is CONST_E everywhere: x̂ = clip(x + s * CONST_E)
        after = _predict(model, np.clip(x.astype(np.float32) + CONST_E, 0, 255))
        assert float(rca[name]["rca_dmv"]) == np.count_nonzero(before == after) / 9
        acc = np.count_nonzero(before == labels[val]) / 9
        assert float(rca[name]["accuracy_clean"]) == pytest.approx(acc, abs=1e-12)  # float repr
        for row in homo:
            s = float(row["scale_value"])
            after_s = _predict(
                model, np.clip(x.astype(np.float32) + np.float32(s) * CONST_E, 0, 255)
            )
            assert float(row[name]) == np.count_nonzero(before == after_s) / 9, (name, s)
    mean = np.mean([float(rca[k]["rca_dmv"]) for k in loaded])
    assert float(rca["mean (eq. 17)"]["rca_dmv"]) == pytest.approx(mean, abs=1e-12)  # fsum vs mean
    per_image = _read_csv(out / "labels.csv")
    for name in scored:
        agreed = sum(row[f"{name}_before"] == row[f"{name}_wgn"] for row in per_image)
        assert float(rca[name]["rca_wgn"]) == agreed / 9
    summary = json.loads((out / "summary.json").read_text())
    psnr = 10 * np.log10(
        255.0**2 / np.mean((np.clip(x + CONST_E, 0, 255) - x) ** 2, axis=(1, 2, 3))
    )
    # float32 x̂ vs float64 here: PSNR agrees to ~1e-5 dB
    assert summary["mean_psnr_db"] == pytest.approx(psnr.mean(), abs=1e-4)
    assert summary["validation_images"] == 9 and summary["unseen_rca"] is not None


def test_eval_dmv_refuses_a_split_other_than_the_classifiers(tmp_path, models):
    import hashlib

    from jndtf.data.classification import read_classification, stratified_split

    data = tmp_path / "set"
    _write_set(data)
    folder = tmp_path / "clf"
    folder.mkdir()
    for role in TINY:
        (folder / f"{role}.keras").write_bytes(
            (models / "classifiers" / f"{role}.keras").read_bytes()
        )
    _, labels, _ = read_classification(data)
    _, val = stratified_split(labels, 6, 0)
    record = {
        "val_indices_sha256": hashlib.sha256(val.astype(np.int64).tobytes()).hexdigest(),
        "val_size": 6,
        "split_seed": 0,
        "max_images": None,
        "path": str(data),
    }
    (folder / "classifiers.json").write_text(json.dumps({"data": record}))
    out = tmp_path / "eval"
    base = [
        "eval",
        "dmv",
        "--data",
        str(data),
        "-o",
        str(out),
        "--dmv",
        str(models / "dmv.keras"),
        "--classifiers",
        str(folder),
        "--no-plots",
    ]
    r = runner.invoke(app, [*base, "--val-size", "9"])
    assert r.exit_code == 2, r.output
    assert "classifiers.json" in r.output and "--val-size 6" in r.output
    assert not out.exists()
    r = runner.invoke(app, [*base, "--val-size", "6", "--cam-class", "label"])
    assert r.exit_code == 0, r.output
    rows = _read_csv(out / "labels.csv")
    assert [int(row["cam_class"]) for row in rows] == [int(row["label"]) for row in rows]
    assert json.loads((out / "summary.json").read_text())["split"]["checked_against"]


# --------------------------------------------------------------------------- the unseen classifier


def test_mobilenet_is_a_cam_classifier_with_a_hand_counted_mac_count():
    import keras

    from jndtf.models.classifiers import cam
    from jndtf.models.classifiers.mobilenet import build_mobilenet, macs_per_pixel
    from jndtf.models.registry import get_model_spec

    model = build_mobilenet("mobilenet_tiny")
    x = _images(2).astype(np.float32) / 255.0
    assert tuple(model(x).shape) == (2, 10)
    maps = cam(model, x, 3)
    assert maps.shape == (2, 32, 32) and maps.min() >= 0 and maps.max() <= 1
    # MACs from the built layers' own output shapes on a 32x32 image (not the preset table)
    convs = [
        layer
        for layer in model.layers
        if isinstance(layer, keras.layers.DepthwiseConv2D | keras.layers.Conv2D)
    ]
    outs = keras.Model(model.input, [layer.output for layer in convs])(x[:1])
    total = 0.0
    for layer, out in zip(convs, outs, strict=True):
        _, h, w, cout = out.shape
        k = layer.kernel_size[0] * layer.kernel_size[1]
        cin = layer.input.shape[-1]
        per_out = k * cin if isinstance(layer, keras.layers.DepthwiseConv2D) else k * cin * cout
        total += per_out * h * w / 1024
    assert macs_per_pixel("mobilenet_tiny") == total
    assert get_model_spec("mobilenet").output_kind == "classifier"


# ------------------------------------------------------------------ rounding, shipped weights


def test_dmv_rca_csv_counts_what_the_rounding_changed(tmp_path, models):
    src = tmp_path / "in"
    x = _images(6, seed=7)
    for i, img in enumerate(x):
        save_image(src / f"{i}.png", img)
    out = tmp_path / "out"
    r = runner.invoke(app, ["dmv", str(src), "-o", str(out), *_dmv_args(models)])
    assert r.exit_code == 0, r.output
    assert "rounding x̂ to uint8" in r.output
    labels = _read_csv(out / "labels.csv")  # checked against direct predicts above
    table = {row["classifier"]: row for row in _read_csv(out / "rca.csv")}
    assert set(table) == {*TINY, "mean (eq. 17)"}
    for role in TINY:
        same_f = sum(row[f"{role}_before"] == row[f"{role}_after"] for row in labels) / 6
        same_u = sum(row[f"{role}_before"] == row[f"{role}_after_uint8"] for row in labels) / 6
        flips = sum(row[f"{role}_after"] != row[f"{role}_after_uint8"] for row in labels)
        row = table[role]
        assert float(row["rca_float"]) == same_f and float(row["rca_uint8"]) == same_u
        # written rounded to 4 decimals
        assert float(row["change_points"]) == pytest.approx(100 * (same_u - same_f), abs=5e-5)
        assert int(row["labels_changed_by_rounding"]) == flips
    summary = json.loads((out / "summary.json").read_text())
    e = np.stack([np.load(out / f"{i}_e.npy") for i in range(6)])
    x_hat = np.clip(x.astype(np.float32) + e, 0, 255)
    png = np.stack([load_image(out / f"{i}.png", min_side=1) for i in range(6)])
    # float32 x̂ vs its rint: the same numbers, so equal to the last bit
    assert summary["rounding"]["max_abs_error"] == float(np.max(np.abs(png - x_hat)))
    assert summary["rounding"]["max_abs_error"] <= 0.5


def _ship(root: Path, models: Path, dmv: str = "dmv.keras", unseen: bool = True) -> Path:
    """A weights root with ``dmv/`` laid out as jndtf ships it (copies of the tiny models)."""
    folder = root / "dmv"
    folder.mkdir(parents=True)
    for role in TINY:
        (folder / f"{role}.keras").write_bytes(
            (models / "classifiers" / f"{role}.keras").read_bytes()
        )
    (folder / "dmv.keras").write_bytes((models / dmv).read_bytes())
    if unseen:
        (folder / "mobilenet.keras").write_bytes((models / "mobilenet.keras").read_bytes())
    return root


def test_without_model_flags_the_shipped_models_are_used(tmp_path, models, monkeypatch):
    import jndtf.refs

    root = _ship(tmp_path / "weights", models)
    monkeypatch.setattr(jndtf.refs, "WEIGHTS_ROOT", root)
    assert lib.resolve_dmv(None) == root / "dmv" / "dmv.keras"
    assert lib.resolve_dmv("dmv") == root / "dmv" / "dmv.keras"  # by name
    assert lib.resolve_unseen("mobilenet", "x") == root / "dmv" / "mobilenet.keras"
    assert lib.resolve_unseen(None, "my/classifiers") is None  # own classifiers: no default
    src = tmp_path / "in"
    save_image(src / "a.png", _images(1, seed=3)[0])
    r = runner.invoke(app, ["dmv", str(src), "-o", str(tmp_path / "out")])
    assert r.exit_code == 0, r.output
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["dmv"] == str(root / "dmv" / "dmv.keras")
    assert summary["classifiers"] == str(root / "dmv")
    data = tmp_path / "set"
    _write_set(data)
    out = tmp_path / "eval"
    r = runner.invoke(
        app, ["eval", "dmv", "--data", str(data), "-o", str(out), "--val-size", "6", "--no-plots"]
    )
    assert r.exit_code == 0, r.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["models"]["unseen"] == str(root / "dmv" / "mobilenet.keras")
    assert summary["unseen_rca"] is not None


def test_missing_shipped_weights_say_where_they_were_looked_for(tmp_path, monkeypatch):
    import jndtf.refs

    monkeypatch.setattr(jndtf.refs, "WEIGHTS_ROOT", tmp_path / "nothing")
    save_image(tmp_path / "in" / "a.png", _images(1)[0])
    out = tmp_path / "out"
    r = runner.invoke(app, ["dmv", str(tmp_path / "in"), "-o", str(out)], env=WIDE)
    assert r.exit_code == 2, r.output
    assert "jndtf train dmv" in r.output and "Traceback" not in r.output
    assert not out.exists()
    with pytest.raises(FileNotFoundError, match="--dmv resnet"):
        lib.resolve_dmv("resnet")


# --------------------------------------------------------------------------- training history


def _history(epochs: int) -> list[dict]:
    rng = np.random.default_rng(epochs)
    out = []
    for k in range(1, epochs + 1):
        rca = {a: float(rng.integers(80, 101)) / 100 for a in TINY}
        out.append(
            {
                "epoch": k,
                "loss": 3.0 / k,
                "l1": 2.0 / k,
                "l2": 0.01 * k,
                "l3": 0.5,
                "val_loss": 4.0 / k,
                "val_rca": rca,
                "val_mean_rca": float(np.mean(list(rca.values()))),
                "val_mean_rca_unrounded": 0.9,
                "val_psnr": 40.0 - 3 * k,
            }
        )
    return out


def test_eval_dmv_writes_the_training_history_beside_the_protocol(tmp_path, models):
    run = tmp_path / "run"
    run.mkdir()
    (run / "dmv.keras").write_bytes((models / "const.keras").read_bytes())
    history = _history(4)
    (run / "dmv.json").write_text(json.dumps({"training": {"history": history}}))
    data = tmp_path / "set"
    _write_set(data)
    out = tmp_path / "eval"
    args = ["eval", "dmv", "--data", str(data), "-o", str(out), "--val-size", "6"]
    args += ["--dmv", str(run / "dmv.keras"), "--classifiers", str(models / "classifiers")]
    r = runner.invoke(app, args)
    assert r.exit_code == 0, r.output
    for name in ("history_loss", "history_rca", "history_psnr", "rca_vs_scale"):
        img = cv2.imread(str(out / "plots" / f"{name}.png"))
        assert img is not None and img.std() > 0, name
    rows = _read_csv(out / "history.csv")
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3, 4]
    for row, rec in zip(rows, history, strict=True):
        assert float(row["val_psnr"]) == rec["val_psnr"] and float(row["loss"]) == rec["loss"]
        for a in TINY:
            assert float(row[f"val_rca_{a}"]) == rec["val_rca"][a]
    report = (out / "report.md").read_text()
    assert "Training history" in report and "plots/history_rca.png" in report
    assert (out / "history.md").read_text().count("\n") == 2 + 4  # head, rule, 4 epochs
    # no dmv.json beside --dmv: the protocol still runs, and says the plots were skipped
    r = runner.invoke(app, [*args[:5], str(tmp_path / "eval2"), *args[6:8], *_dmv_args(models)])
    assert r.exit_code == 0, r.output
    assert "per-epoch plots skipped" in r.output
    assert not (tmp_path / "eval2" / "history.csv").exists()


# --------------------------------------------------------------------------- the demo's example


def test_demo_dmv_example_labels_and_psnr_by_hand(tmp_path, models, loaded, monkeypatch):
    import jndtf.refs
    from jndtf import demo_dmv

    root = _ship(tmp_path / "weights", models, dmv="const.keras")
    (root / "dmv" / "classifiers.json").write_text(
        json.dumps({"class_names": [f"c{k}" for k in range(10)]})
    )
    monkeypatch.setattr(jndtf.refs, "WEIGHTS_ROOT", root)
    assert demo_dmv.skip_reason() is None
    big = {
        "wide": _images(1, seed=8, size=(60, 40))[0],
        "tall": _images(1, seed=9, size=(20, 50))[0],
    }
    result = demo_dmv.run_dmv_example(big, tmp_path / "dmv")
    unseen = lib.load_keras(models / "mobilenet.keras", "unseen")
    rows = {row["image"]: row for row in _read_csv(tmp_path / "dmv" / "labels.csv")}
    for name, img in big.items():
        h, w = img.shape[:2]
        s = min(h, w)
        crop = img[(h - s) // 2 : (h - s) // 2 + s, (w - s) // 2 : (w - s) // 2 + s]
        x = cv2.resize(crop, (32, 32), interpolation=cv2.INTER_AREA)
        x_hat = np.clip(np.rint(x.astype(np.float64) + CONST_E), 0, 255).astype(np.uint8)
        for role, model in {**loaded, "mobilenet": unseen}.items():
            assert rows[name][f"{role}_before"] == f"c{_predict(model, x[None])[0]}"
            assert rows[name][f"{role}_after"] == f"c{_predict(model, x_hat[None])[0]}"
        mse = np.mean((x_hat.astype(np.float64) - x) ** 2)
        # psnr_db is written rounded to 3 decimals
        assert float(rows[name]["psnr_db"]) == pytest.approx(10 * np.log10(255**2 / mse), abs=1e-3)
        panel = load_image(tmp_path / "dmv" / f"{name}.png", min_side=1)
        assert panel.shape == (128, 3 * 128 + 8, 3)
        np.testing.assert_array_equal(panel[::4, :128:4], x)  # x shown 4x, nearest
        assert np.all(panel[:, 132:260] == round(128 + CONST_E))  # e = CONST_E, shown 128 + e
        np.testing.assert_array_equal(panel[::4, 264::4], x_hat)
    assert result.unseen == "mobilenet" and "DMV-JND" in result.markdown()


def test_demo_skips_the_dmv_example_with_one_line_when_nothing_ships(tmp_path, monkeypatch):
    import jndtf.refs
    from jndtf import demo

    monkeypatch.setattr(jndtf.refs, "WEIGHTS_ROOT", tmp_path / "nothing")
    text = demo._dmv(demo.DemoSettings(out_dir=tmp_path / "demo"), {}, lambda *a: None)
    assert text.startswith("DMV-JND example (machine vision) skipped:")
    assert str(tmp_path / "nothing" / "dmv" / "dmv.keras") in text and "\n" not in text
    assert demo._dmv(demo.DemoSettings(dmv=False), {}, lambda *a: None) == ""
    assert not (tmp_path / "demo").exists()
    r = runner.invoke(app, ["demo", "--help"], env=WIDE)
    assert r.exit_code == 0 and "--no-dmv" in r.output
