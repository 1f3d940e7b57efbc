"""The family spec of jndtf.models.registry (issue #10.3): one registration declares a family's
output kind, inputs, training command, export hooks and MAC count.

A toy family registered here (this file is its only file) goes through ``jndtf train toy`` and
the export hooks without any other file knowing its name.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from jndtf.cli import app
from jndtf.models import registry
from jndtf.models.registry import (
    ExportHooks,
    TrainEntry,
    available_families,
    family_spec,
    get_model_spec,
    register_model,
    trainable_families,
)
from jndtf.settings import cli_fields, option

# ------------------------------------------------------------------ the toy family


@dataclass(frozen=True)
class ToySettings:
    """Settings of the toy family's training (every default and help written once, here)."""

    data_dir: str = option("--data", help="Folder of toy images.", cli_type=Path, parse=str)
    output: str = option("--out", "-o", default="runs/toy.json", help="Toy result file.")
    epochs: int = option(default=3, help="Toy epochs.")
    rate: float = option("--lr", default=0.5, help="Toy learning rate.")
    resume: bool = False
    command: str | None = None
    verbose: int = 0

    def __post_init__(self):
        if self.epochs < 1:
            raise ValueError(f"epochs must be >= 1, got {self.epochs}")


def toy_run(settings: ToySettings) -> dict:
    out = Path(settings.output)
    record = {
        **dataclasses.asdict(settings),
        "losses": [1.0 / e for e in range(1, 1 + settings.epochs)],
    }
    out.write_text(json.dumps(record))
    return record


def toy_report(result: dict) -> str:
    return f"toy: {len(result['losses'])} epochs, last loss {result['losses'][-1]:.3f}"


def toy_checkpoint(settings: dict) -> Path:
    return Path(settings["output"]).with_suffix(".ckpt")


def toy_describe(model) -> dict:
    if model != "toy-net":
        raise ValueError("not a toy network")
    return {"channels": 3, "layers": 1}


@pytest.fixture
def toy():
    here = __name__
    spec = register_model(
        "toy_tiny",
        "toy",
        lambda **kw: "toy-net",
        input_channels=3,
        output_kind="image",
        description="toy family of the registry tests",
        train=TrainEntry(
            settings=f"{here}:ToySettings",
            run=f"{here}:toy_run",
            help="Train the toy family (a test).",
            report=f"{here}:toy_report",
            checkpoint=f"{here}:toy_checkpoint",
        ),
        export=ExportHooks(
            qat_describe=f"{here}:toy_describe",
            qat_rebuild="toy_rebuild_module",
            float_layers=("toy_head",),
        ),
        macs=12.5,
    )
    yield spec
    with registry._LOCK:
        registry._REGISTRY.pop("toy_tiny", None)


def invoke(*args: str):
    return CliRunner().invoke(app, list(args), catch_exceptions=False)


def test_toy_family_is_a_train_command(toy, tmp_path):
    assert "toy" in available_families() and "toy" in trainable_families()
    listing = invoke("train", "--help")
    assert (
        listing.exit_code == 0
        and "toy" in listing.output
        and "Train the toy family" in (listing.output)
    )
    help_ = invoke("train", "toy", "--help")
    assert help_.exit_code == 0, help_.output
    for text in ("--data", "--out", "--epochs", "--lr", "Toy learning rate.", "--resume"):
        assert text in help_.output, text
    out = tmp_path / "toy.json"
    r = invoke("train", "toy", "--data", str(tmp_path), "-o", str(out), "--epochs", "4")
    assert r.exit_code == 0, r.output
    assert "toy: 4 epochs, last loss 0.250" in r.output  # 1 / 4
    written = json.loads(out.read_text())
    # defaults come from the dataclass field; command filled by the command line
    assert written["rate"] == 0.5 and written["data_dir"] == str(tmp_path)
    assert written["command"].startswith("jndtf ")  # sys.argv (pytest's here); field default None
    assert written["resume"] is False


def test_toy_family_errors_are_one_line(toy, tmp_path):
    r = invoke("train", "toy", "--data", str(tmp_path), "--epochs", "0")
    assert r.exit_code == 2 and "epochs must be >= 1" in r.output and "Traceback" not in r.output
    r = invoke("train", "toy", "--data", str(tmp_path), "-o", str(tmp_path / "t.json"), "--resume")
    assert r.exit_code == 2 and "no checkpoint" in r.output


def test_toy_family_export_hooks(toy):
    from jndtf.export.qat import qat_hooks
    from jndtf.export.run import export_hooks

    family, hooks, arch = qat_hooks("toy-net", "toy")
    assert (family, arch, hooks.qat_rebuild) == (
        "toy",
        {"channels": 3, "layers": 1},
        "toy_rebuild_module",
    )
    assert export_hooks("toy").float_layers == ("toy_head",)
    with pytest.raises(ValueError, match="not a toy network"):
        qat_hooks("other-net", "toy")
    with pytest.raises(ValueError, match="registers no qat_describe"):
        qat_hooks("toy-net", "saliency")
    with pytest.raises(ValueError, match="not exported"):
        export_hooks("aiqa")
    assert toy.macs_per_pixel() == 12.5 and not toy.is_jnd


# ------------------------------------------------------------------ the shipped families


def test_output_kinds_of_the_registered_families():
    kinds = {f: family_spec(f).output_kind for f in ("acol", "saliency", "aiqa")}
    assert kinds == {"acol": "jnd_map", "saliency": "saliency", "aiqa": "classifier"}
    assert get_model_spec("acol").is_jnd and not get_model_spec("poolnet_tiny").is_jnd
    assert set(trainable_families()) >= {"acol", "saliency", "aiqa"}


def test_mac_counts_come_from_the_spec():
    # notes/acol-table1.md counts ≈87k MAC per pixel by hand for Table 1 (CNN1 8496, each
    # branch 38592, CNN4 1467): an independent count of the same layers
    assert get_model_spec("acol").macs_per_pixel() == 8496 + 2 * 38592 + 1467
    # width 0.25 scales every hidden layer; the count falls by more than 10x (c_in * c_out)
    assert get_model_spec("acol").macs_per_pixel("tiny") < 87147 / 10
    # A-IQA tiny by hand: stem 9*6*16 = 864; stage 16 at 1/4: (9*16*16*2 + 16*16) / 4 = 1216;
    # stage 32 at 1/16: (9*16*32 + 9*32*32 + 16*32) / 16 = 896; stage 64 at 1/64: 896
    assert get_model_spec("aiqa_resnet_tiny").macs_per_pixel() == 864 + 1216 + 896 + 896


def test_registration_is_validated():
    with pytest.raises(ValueError, match="output_kind"):
        register_model("x_kind", "x", lambda: None, input_channels=3, output_kind="heatmap")
    with pytest.raises(ValueError, match="modalities"):
        register_model("x_mod", "x", lambda: None, input_channels=3, modalities=("rgb", "lidar"))
    with pytest.raises(ValueError, match="both qat_describe and qat_rebuild"):
        register_model(
            "x_qat", "x", lambda: None, input_channels=3, export=ExportHooks(qat_describe="a:b")
        )
    assert "x_kind" not in registry.available_models()


#: Options of `jndtf train acol/saliency/aiqa` before the commands were derived from settings
#: (cli/train.py at 66e639f): every one must still exist.
OLD_OPTIONS = {
    "acol": "--data --out -o --preset --width --epochs --steps --batch-size --crop-size --lr "
    "--delta --eta --l1 --injection --padding --term-every --aiqa-classifier --saliency-model "
    "--max-images --seed --cache-dir --resume --resume-or-start --mixed-precision --xla "
    "--distribution --tensorboard --no-tensorboard",
    "saliency": "--data --masks --out -o --preset --epochs --steps --batch-size --crop-size --lr "
    "--iou-weight --holdout-fraction --mask-threshold --seed --resume --resume-or-start",
    "aiqa": "--data --out -o --preset --epochs --steps --batch-size --crop-size --learning-rate "
    "--holdout-fraction --seed",
}


@pytest.mark.parametrize("family", sorted(OLD_OPTIONS))
def test_old_train_options_still_exist_and_defaults_live_on_the_field(family):
    from jndtf.cli.train import _click_command

    command = _click_command(family)
    flags = {o for p in command.params for o in (*p.opts, *p.secondary_opts)}
    assert set(OLD_OPTIONS[family].split()) <= flags
    settings_cls = registry.load_object(trainable_families()[family].settings)
    fields = {f.name: f for f, _ in cli_fields(settings_cls)}
    for p in command.params:
        if p.name in fields and fields[p.name].default is not dataclasses.MISSING:
            want = fields[p.name].default
            got = p.default
            assert str(got) == str(want), (p.name, got, want)  # the field's default, nothing else


def test_registry_import_loads_no_tensorflow_or_keras():
    code = (
        "import sys\n"
        "from jndtf.models.registry import available_models, family_spec, trainable_families\n"
        "names = available_models(); trainable_families()\n"
        "assert family_spec('acol').macs_per_pixel() > 0\n"
        "bad = [m for m in ('tensorflow', 'keras', 'tf_keras') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
