"""DESIGN.md's one rule between the layers, checked two ways (issue #10.1).

1. At run time, in a fresh interpreter: one frame of the shipped int8 ACoL-JND through
   :class:`jndtf.edge.JndMapper` (and, with a classifier, one frame through
   :class:`jndtf.edge.machine.MachineVisionStage`) loads none of the training/export side
   (``jndtf.export``, ``jndtf.models``, ``jndtf.data``, ``jndtf.train``, ``jndtf.evaluate``) and
   neither TensorFlow nor Keras: ``sys.modules`` is read after the frame. Nothing is blocked, so a
   guarded ``try: import ...`` that would succeed is caught too.
2. Statically: every module under ``edge/`` and the core (``jndtf/priors``, ``jndtf/baselines``,
   ``jndtf/apply``, ``jndtf/codecs``, ``jndtf/manifest.py``, ``jndtf/io.py``,
   ``jndtf/litert.py``) is parsed with :mod:`ast`; no ``import``/``from ... import`` (top level or
   inside a function, relative ones resolved) and no ``importlib.import_module("...")`` with a
   literal name may reach those packages.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytest_plugins = ("mv_classifier",)

ROOT = Path(__file__).resolve().parents[1]

#: Packages the edge runtime and the core must not import (DESIGN.md, "the one rule").
FORBIDDEN = (
    "jndtf.export",
    "jndtf.models",
    "jndtf.data",
    "jndtf.train",
    "jndtf.evaluate",
    "tensorflow",
    "keras",
    "tf_keras",
)

#: Where each installed package lives in the tree ([tool.setuptools.package-dir]).
PACKAGE_DIRS = {
    "jndtf.edge": ROOT / "edge",
    "jndtf.export": ROOT / "export",
    "jndtf": ROOT / "jndtf",
}

#: The layers the rule covers: jndtf.edge and the core.
CHECKED = [
    ROOT / "edge",
    ROOT / "jndtf" / "priors",
    ROOT / "jndtf" / "baselines",
    ROOT / "jndtf" / "apply",
    ROOT / "jndtf" / "codecs",
    ROOT / "jndtf" / "manifest.py",
    ROOT / "jndtf" / "io.py",
    ROOT / "jndtf" / "litert.py",
    ROOT / "jndtf" / "metrics.py",
    ROOT / "jndtf" / "settings.py",
]

SHIPPED_INT8 = sorted((ROOT / "jndtf" / "weights" / "acol").glob("**/*.tflite"))


def _is_forbidden(name: str) -> bool:
    return any(name == p or name.startswith(p + ".") for p in FORBIDDEN)


def _module_name(path: Path) -> str:
    for pkg, folder in sorted(PACKAGE_DIRS.items(), key=lambda kv: -len(str(kv[1]))):
        if path.is_relative_to(folder):
            parts = list(path.relative_to(folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            return ".".join([pkg, *parts])
    raise ValueError(f"{path} is in no package folder")


def imported_names(path: Path) -> list[tuple[int, str]]:
    """``(line, module)`` of every import in `path`: ``import a.b``, ``from a import b`` (as
    ``a.b`` and ``a``), relative imports resolved against the file's package, and
    ``importlib.import_module("literal")``."""
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    out = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")
                parent = parent[: len(parent) - (node.level - 1)]
                base = ".".join([*parent, base] if base else parent)
            out.append((node.lineno, base))
            out += [(node.lineno, f"{base}.{a.name}") for a in node.names if a.name != "*"]
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            out.append((node.lineno, node.args[0].value))
    return out


def _checked_files() -> list[Path]:
    files = []
    for where in CHECKED:
        files += sorted(where.rglob("*.py")) if where.is_dir() else [where]
    return files


def _violations(path: Path) -> list[str]:
    rel = path.relative_to(ROOT)
    return [
        f"{rel}:{line}: imports {name}"
        for line, name in imported_names(path)
        if _is_forbidden(name)
    ]


# --- the scanner itself, on hand-written sources ---------------------------------------------


def test_the_scanner_finds_every_kind_of_import(tmp_path, monkeypatch):
    folder = tmp_path / "edge"
    (folder / "sub").mkdir(parents=True)
    src = folder / "sub" / "mod.py"
    src.write_text(
        textwrap.dedent(
            """
            import numpy as np
            import tensorflow as tf
            from jndtf.io import check_image
            from jndtf import models
            def f():
                from ...export import manifest
                import importlib
                importlib.import_module("keras.saving")
            """
        )
    )
    monkeypatch.setitem(PACKAGE_DIRS, "jndtf.edge", folder)
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    found = sorted(_violations(src))
    # edge/sub/mod.py is jndtf.edge.sub.mod: "..." climbs to jndtf, so ...export = jndtf.export
    assert found == [
        "edge/sub/mod.py:3: imports tensorflow",
        "edge/sub/mod.py:5: imports jndtf.models",
        "edge/sub/mod.py:7: imports jndtf.export",
        "edge/sub/mod.py:7: imports jndtf.export.manifest",
        "edge/sub/mod.py:9: imports keras.saving",
    ]


# --- static: no arrow from edge/ or the core to the training/export side ---------------------


def test_edge_and_core_import_nothing_from_the_training_or_export_side():
    files = _checked_files()
    assert len(files) > 40  # the folders exist and were walked (edge/ alone has 20 modules)
    found = [v for f in files for v in _violations(f)]
    print(f"checked {len(files)} modules of edge/ and the core; forbidden imports: {len(found)}")
    print("\n".join(found))
    assert not found, "\n".join(found)


# --- run time: a fresh interpreter after one frame -------------------------------------------

FRESH = """
import json, sys
import numpy as np
from jndtf.edge import JndMapper
from jndtf.samples import sample_image

frame = np.ascontiguousarray(sample_image("coffee")[:360, :600])
with JndMapper.create_from_model_path(sys.argv[1]) as mapper:
    result = mapper.process(frame)
jnd = np.asarray(result.jnd)
out = {"jnd_shape": list(jnd.shape), "jnd_max": float(jnd.max())}
out["finite"] = bool(np.isfinite(jnd).all())
if len(sys.argv) > 2:
    from jndtf.edge.machine import MachineVisionStage
    with MachineVisionStage(sys.argv[2], mode="quantize", factor=2.0) as stage:
        processed, record = stage.process(frame, jnd)
    change = np.abs(processed.astype(np.float64) - frame.astype(np.float64)).max()
    out["max_abs_change"] = float(change)  # measured here from the arrays
    out["same_shape"] = processed.shape == frame.shape and processed.dtype == frame.dtype
    out["label"] = int(record.label_original)
out["modules"] = sorted(sys.modules)
print(json.dumps(out))
"""


def _fresh_run(*args: str) -> dict:
    proc = subprocess.run(
        [sys.executable, "-c", FRESH, *args], capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _check_fresh(out: dict) -> None:
    assert out["finite"] and out["jnd_shape"][:2] == [360, 600]
    assert out["jnd_max"] > 0  # a real map came out of the int8 model
    loaded = [m for m in out["modules"] if _is_forbidden(m)]
    print(f"{len(out['modules'])} modules loaded; forbidden: {loaded}")
    assert not loaded, loaded


@pytest.fixture(scope="module")
def shipped_int8() -> Path:
    assert SHIPPED_INT8, "the shipped int8 export jndtf/weights/acol/edge/*.tflite is missing"
    return SHIPPED_INT8[0]


def test_one_frame_through_jnd_mapper_loads_no_training_or_export_module(shipped_int8):
    _check_fresh(_fresh_run(str(shipped_int8)))


@pytest.mark.tf  # the classifier is trained and exported by the mv_classifier fixture (Keras)
def test_one_frame_through_jnd_mapper_and_machine_vision_loads_no_training_module(
    shipped_int8, mv_classifier
):
    out = _fresh_run(str(shipped_int8), str(mv_classifier.float_path))
    assert out["same_shape"] and 0 <= out["label"] < len(mv_classifier.labels)
    # the quantize mode's bound (factor 2): |processed - frame| <= 2 / 2 * max(JND), plus 0.5
    # for rounding to the uint8 output
    assert 0 < out["max_abs_change"] <= out["jnd_max"] + 0.5
    _check_fresh(out)
