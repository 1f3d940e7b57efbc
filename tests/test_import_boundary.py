"""The dependency split (DESIGN.md, "the one rule"): core and jndtf.edge never import TensorFlow
or Keras. Each check runs in a fresh interpreter with those packages blocked at import time."""

from __future__ import annotations

import subprocess
import sys
import textwrap

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
    return subprocess.run([sys.executable, "-c", BLOCKER + textwrap.dedent(code)],
                          capture_output=True, text=True, timeout=300)


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
