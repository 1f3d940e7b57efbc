"""The dependency split (DESIGN.md, "the one rule"): core and jndtf.edge never import TensorFlow
or Keras. Each check runs in a fresh interpreter with those packages blocked at import time."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

pytest_plugins = ("edge_fixtures",)  # exported_acol_dynamic

BLOCKER = textwrap.dedent(
    """
    import importlib.abc, sys
    class _Block(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ("tensorflow", "keras", "tf_keras", "jax", "torch"):
                raise ImportError(f"blocked by test: {name}")
    sys.meta_path.insert(0, _Block())
    """
)


def _run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", BLOCKER + textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_core_runs_without_tensorflow_or_keras():
    proc = _run(
        """
        import sys
        import numpy as np
        import skimage.data
        import jndtf.priors, jndtf.baselines, jndtf.apply, jndtf.edge
        img = skimage.data.chelsea()[:96, :128]
        maps = jndtf.priors.compute_all(img)
        assert maps and all(np.isfinite(m).all() for m in maps.values()), "priors"
        for name in jndtf.baselines.available():
            jnd = jndtf.baselines.get(name)(img)
            assert jnd.shape[:2] == img.shape[:2] and np.isfinite(jnd).all(), name
        res = jndtf.apply.inject(img, jndtf.baselines.get("wu2017")(img), psnr=30.0, seed=1)
        assert abs(res.psnr - 30.0) < 0.01, res.psnr
        heavy = [m for m in sys.modules if m.split(".")[0] in ("tensorflow", "keras", "tf_keras")]
        assert not heavy, heavy
        print("ok")
        """
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip().endswith("ok")


def test_cli_help_does_not_import_tensorflow():
    proc = _run(
        """
        import sys
        from typer.testing import CliRunner
        from jndtf.cli import app
        for args in (["--help"], ["priors", "--help"], ["baseline", "--help"], ["train", "--help"]):
            r = CliRunner().invoke(app, args)
            assert r.exit_code == 0, (args, r.output)
        heavy = [m for m in sys.modules if m.split(".")[0] in ("tensorflow", "keras")]
        assert not heavy, heavy
        print("ok")
        """
    )
    assert proc.returncode == 0, proc.stderr[-3000:]


def test_missing_train_extra_names_the_pip_command():
    proc = _run(
        """
        for mod in ("jndtf.iqa", "jndtf.losses", "jndtf.train"):
            try:
                __import__(mod)
            except ImportError as e:
                assert 'pip install "jndtf[train]"' in str(e), (mod, str(e))
            else:
                raise SystemExit(f"{mod} imported without keras")
        print("ok")
        """
    )
    assert proc.returncode == 0, proc.stderr[-3000:] + proc.stdout


@pytest.mark.tf
def test_edge_runtime_runs_a_tflite_stream_without_tensorflow_or_keras(
    exported_acol_dynamic, tmp_path
):
    """DESIGN.md's rule, end to end: the .tflite is exported here (TensorFlow), then a fresh
    interpreter with TensorFlow/Keras blocked decodes the synthesized camera clip and maps its
    frames with JndMapper (VIDEO mode: map reuse, priors pipelined with inference)."""
    from jndtf.samples import synthesize_clip

    info = synthesize_clip(
        tmp_path / "clip.mp4", seconds=1.0, fps=10.0, size=(160, 96), scene_seconds=0.5
    )
    proc = _run(
        f"""
        import sys
        import cv2
        import numpy as np
        from jndtf.edge import JndMapper, JndMapperOptions, RunningMode
        cap = cv2.VideoCapture({str(info.path)!r})
        frames = []
        while len(frames) < 8:
            ok, bgr = cap.read()
            if not ok:
                break
            frames.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
        assert len(frames) == 8, len(frames)
        opts = JndMapperOptions(model={str(exported_acol_dynamic.path)!r},
                                running_mode=RunningMode.VIDEO, reuse_interval=2,
                                parallel_priors=True, num_threads=1)
        with JndMapper.create_from_options(opts) as m:
            results = list(m.process_video(frames, timestamps_ms=range(0, 800, 100)))
            stats = m.stats
        assert [r.frame_index for r in results] == list(range(8))
        assert all(r.jnd.shape == (96, 160, 3) and np.isfinite(r.jnd).all() for r in results)
        assert stats.frames == 8 and stats.inferences >= 4, stats
        heavy = [m for m in sys.modules if m.split(".")[0] in ("tensorflow", "keras", "tf_keras")]
        assert not heavy, heavy
        print("ok")
        """
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip().endswith("ok")


def test_edge_interpreter_falls_back_to_tflite_runtime_then_names_the_extra():
    proc = _run(
        """
        import importlib.abc, sys, types
        class _BlockLiteRT(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in ("ai_edge_litert", "tflite_runtime"):
                    raise ImportError(f"blocked by test: {name}")
        sys.meta_path.insert(0, _BlockLiteRT())
        from jndtf.edge.interpreter import interpreter_class
        try:
            interpreter_class()
        except ImportError as e:
            assert 'pip install "jndtf[edge]"' in str(e), str(e)
        else:
            raise SystemExit("no ImportError without an interpreter")
        # tflite_runtime (the old package) is taken when ai_edge_litert is missing
        fake = types.ModuleType("tflite_runtime.interpreter")
        fake.Interpreter = type("Interpreter", (), {})
        sys.modules["tflite_runtime"] = types.ModuleType("tflite_runtime")
        sys.modules["tflite_runtime.interpreter"] = fake
        assert interpreter_class() is fake.Interpreter
        print("ok")
        """
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip().endswith("ok")
