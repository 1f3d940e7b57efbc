"""LiteRT's one-time C++ line "INFO: Created TensorFlow Lite XNNPACK delegate for CPU." stays off
stderr (issue 15 point 7), while anything else written to fd 2 meanwhile still reaches it."""

import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("ai_edge_litert")

SHIPPED = Path(__file__).resolve().parents[1] / "jndtf" / "weights" / "acol" / "edge"

CHILD = r"""
import os, sys
from ai_edge_litert.interpreter import Interpreter
from jndtf.edge.interpreter import LiteRTModel, quiet_litert_info

path = sys.argv[1]
if sys.argv[2] == "raw":
    Interpreter(model_path=path).allocate_tensors()
else:
    LiteRTModel(path)
    with quiet_litert_info():
        os.write(2, b"native warning kept\n")
"""


@pytest.mark.parametrize("mode", ["raw", "jndtf"])
def test_xnnpack_info_line_stays_off_stderr(mode):
    model = SHIPPED / "acol-tflite-int8.tflite"
    r = subprocess.run(
        [sys.executable, "-c", CHILD, str(model), mode], capture_output=True, text=True, timeout=120
    )
    assert r.returncode == 0, r.stderr
    if mode == "raw":  # the control: LiteRT itself prints it, so the test below means something
        assert "XNNPACK delegate" in r.stderr
    else:
        assert "XNNPACK delegate" not in r.stderr
        assert "native warning kept" in r.stderr
