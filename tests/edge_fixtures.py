"""Session-scoped fixtures of the edge-runtime tests: the shipped ACoL-JND exported to TFLite.

A pytest plugin: a test module that says ``pytest_plugins = ("edge_fixtures",)`` gets

- :func:`exported_acol_fixed`: ``tflite-fp32`` of the shipped ``acol`` weights at a fixed
  input of :data:`FIXED_SIZE` (width, height) = 160x96 (WIDTHxHEIGHT), NHWC ``[1, 96, 160, C]``;
- :func:`exported_acol_dynamic`: the same weights with dynamic H, W (``input_size=None``),

each exported once per session (whichever modules ask) by :func:`jndtf.export.export_model`
into a ``tmp_path_factory`` folder, and each a :class:`jndtf.export.ExportResult`
(``.path`` the ``.tflite``, ``.manifest_path``, ``.manifest``). Exporting needs TensorFlow: a
test that asks for them is skipped without the ``[train]`` extra (mark it ``@pytest.mark.tf``
too, so the reason shows up in collection). Parity against Keras is not measured here
(``parity=False``: it costs a Keras run per export on the 2 shared cores); the tests compare
the runtime's map with the Keras model themselves.

Example (a test module)::

    pytest_plugins = ("edge_fixtures",)

    @pytest.mark.tf
    def test_runs(exported_acol_fixed):
        from jndtf.edge import JndMapper
        with JndMapper.create_from_model_path(exported_acol_fixed.path) as m:
            ...
"""

from __future__ import annotations

import importlib.util

import pytest

#: (width, height) of the fixed-size export (export_model's order): small (2 shared cores),
#: not square, both sides >= 32.
FIXED_SIZE = (160, 96)

#: Registered name of the shipped weights (jndtf/weights/acol/acol.keras).
MODEL = "acol"


def _require_tf() -> None:
    if importlib.util.find_spec("tensorflow") is None:
        pytest.skip('exporting a .tflite needs the [train] extra: pip install "jndtf[train]"')


def _export(tmp_path_factory, folder: str, input_size):
    _require_tf()
    from jndtf.export import export_model

    out = tmp_path_factory.mktemp(folder)
    (result,) = export_model(
        MODEL, ["tflite-fp32"], out_dir=out, input_size=input_size, parity=False
    )
    return result


@pytest.fixture(scope="session")
def exported_acol_fixed(tmp_path_factory):
    """The shipped acol as ``tflite-fp32`` with a fixed 160x96 (WIDTHxHEIGHT) input (an
    ExportResult)."""
    return _export(tmp_path_factory, "edge-acol-fixed", FIXED_SIZE)


@pytest.fixture(scope="session")
def exported_acol_dynamic(tmp_path_factory):
    """The shipped acol as ``tflite-fp32`` with dynamic H, W (an ExportResult)."""
    return _export(tmp_path_factory, "edge-acol-dynamic", None)
