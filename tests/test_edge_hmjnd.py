"""hmJND-Net in the edge runtime (issue 12): JndMapper runs an exported hmJND-Net ``.tflite``.

The network is an untrained ``hmjnd_tiny`` (seed 0) whose Reshape conv is scaled by 0.01, as in
tests/test_export_families.py: an untrained net's residual saturates I_rr at 0 or 255, where
parity means nothing; scaled, |I - I_rr| is a few grey levels, like a trained redundancy
remover's. Exported with :func:`jndtf.export.export_model` (``parity=False``: the tests compare
against Keras themselves).

Independent reference: the Keras model itself on an input built here from the classical
providers of :mod:`jndtf.priors.modalities` and RGB / 255 (not through the edge's code), and
the visibility threshold ``|I - I_rr|`` written out in numpy. The edge runs in a fresh
interpreter with ``tensorflow`` and ``keras`` blocked. Tolerances: :data:`TOL_FP32`,
:data:`TOL_INT8` (with their reasons).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.tf

#: (width, height) of the fixed-size int8 export: small (2 shared cores), not square.
FIXED = (64, 48)

#: max |edge JND - Keras JND| in grey levels, per export. fp32: the same float32 graph in
#: LiteRT and TensorFlow, differing in summation order only (export parity of hmjnd_tiny fp32:
#: max 1.5e-5 at 64x48), and the JND is |I - I_rr| of that output: 1e-3 leaves room for other
#: SIMD widths. int8: the export's parity on held-back crops reached max |err| 0.8 grey levels
#: (mean 0.14) on I_rr (STA layer norms in float); |I - I_rr| cannot move further than I_rr,
#: so 2 grey levels = the measured max with a margin for other photos.
TOL_FP32 = 1e-3
TOL_INT8 = 2.0


def _frame(width: int, height: int, seed: int = 0) -> np.ndarray:
    """A crop of a real photo (bundled ``motorcycle_left``) at a random place."""
    from jndtf.samples import sample_image

    im = sample_image("motorcycle_left")
    rng = np.random.default_rng(seed)
    y = int(rng.integers(0, im.shape[0] - height))
    x = int(rng.integers(0, im.shape[1] - width))
    return np.ascontiguousarray(im[y : y + height, x : x + width])


def _keras_jnd(model, frame: np.ndarray, providers=None) -> np.ndarray:
    """|I - I_rr| of the Keras model, its input built here: RGB / 255, then the saliency,
    depth and segmentation maps of the providers (classical defaults), in channel order."""
    from jndtf.priors.modalities import get_provider

    providers = providers or {}
    maps = [
        (providers.get(k) or get_provider(k))(frame) for k in ("saliency", "depth", "segmentation")
    ]
    x = np.concatenate([frame.astype(np.float32) / 255.0, np.stack(maps, -1)], -1)[None]
    i_rr = np.asarray(model(x, training=False))[0]
    return np.abs(frame.astype(np.float32) - i_rr)


@pytest.fixture(scope="module")
def hm(tmp_path_factory):
    """(Keras model, its fp32 dynamic-size export, the folder): ~25 s once per module on 2
    shared cores (TensorFlow import, build, SavedModel, conversion); each test is ~1 s."""
    keras = pytest.importorskip("keras")
    from jndtf.export import export_model

    from jndtf.models.registry import get_model_spec
    from jndtf.train._common import atomic_save_model

    keras.utils.set_random_seed(0)
    model = get_model_spec("hmjnd_tiny").build()
    layer = model.get_layer("reshape")
    layer.set_weights([w * 0.01 for w in layer.get_weights()])
    folder = tmp_path_factory.mktemp("hmjnd_edge")
    atomic_save_model(model, folder / "hm.keras")
    (fp32,) = export_model(
        f"hmjnd_tiny:{folder / 'hm.keras'}",
        ["tflite-fp32"],
        out_dir=folder / "dyn",
        input_size=None,
        parity=False,
    )
    return model, fp32, folder


@pytest.fixture(scope="module")
def hm_int8(hm):
    """int8 (float I/O), fixed 64x48, 4 calibration crops: ~9 s on 2 shared cores."""
    from jndtf.export import export_model

    _, _, folder = hm
    (int8,) = export_model(
        f"hmjnd_tiny:{folder / 'hm.keras'}",
        ["tflite-int8"],
        out_dir=folder / "int8",
        input_size=FIXED,
        num_calibration=4,
        parity=False,
    )
    return int8


def test_edge_map_is_keras_visibility_threshold_any_size(hm):
    """fp32, dynamic H, W: a 64x48 frame and an odd 45x37 one (not a multiple of the 4x4
    window: the network pads inside and crops back) give |I - Keras(I)| at the frame's size."""
    from jndtf.edge import JndMapper

    model, fp32, _ = hm
    with JndMapper.create_from_model_path(fp32.path) as mapper:
        for w, h in ((64, 48), (45, 37)):
            frame = _frame(w, h, seed=w)
            r = mapper.process(frame)
            assert r.jnd.shape == (h, w, 3) and r.jnd.dtype == np.float32
            assert r.inference_size == (w, h)  # dynamic: no resize, no padding by the edge
            want = _keras_jnd(model, frame)
            assert float(want.mean()) > 0.5  # the scaled net removes a few grey levels
            np.testing.assert_allclose(r.jnd, want, atol=TOL_FP32)


def test_int8_fixed_size_edge_map_matches_keras(hm, hm_int8):
    from jndtf.edge import JndMapper

    model = hm[0]
    frame = _frame(*FIXED, seed=3)
    with JndMapper.create_from_model_path(hm_int8.path) as mapper:
        assert mapper.input_size == FIXED
        r = mapper.process(frame)
    err = np.abs(r.jnd - _keras_jnd(model, frame))
    print(f"int8 edge vs Keras JND: max {err.max():.3f}, mean {err.mean():.3f} grey levels")
    assert float(err.max()) < TOL_INT8


def test_runs_without_tensorflow(hm, tmp_path):
    """A fresh interpreter with tensorflow and keras blocked runs the export (providers
    included) and loads nothing from the training or export side."""
    model, fp32, _ = hm
    frame = _frame(64, 48, seed=7)
    np.save(tmp_path / "f.npy", frame)
    code = textwrap.dedent(
        """
        import json, sys
        sys.modules["tensorflow"] = None
        sys.modules["keras"] = None
        import numpy as np
        from jndtf.edge import JndMapper
        with JndMapper.create_from_model_path(sys.argv[1]) as m:
            np.save(sys.argv[3], m.process(np.load(sys.argv[2])).jnd)
        heavy = ("tensorflow", "keras", "jndtf.models", "jndtf.export", "jndtf.train",
                 "jndtf.data")
        bad = [n for n, m in sys.modules.items() if m is not None
               and (n in heavy or n.startswith(tuple(h + "." for h in heavy)))]
        print(json.dumps(bad))
        """
    )
    args = [str(fp32.path), str(tmp_path / "f.npy"), str(tmp_path / "j.npy")]
    proc = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == []
    np.testing.assert_allclose(np.load(tmp_path / "j.npy"), _keras_jnd(model, frame), atol=TOL_FP32)


def _copy(export, folder: Path, edit) -> Path:
    """The export copied to `folder` with its manifest's inputs edited by `edit(inputs)`."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / export.path.name
    shutil.copy(export.path, path)
    manifest = json.loads(export.manifest_path.read_text())
    edit(manifest["inputs"])
    path.with_suffix(".json").write_text(json.dumps(manifest))
    return path


def test_recorded_provider_settings_are_the_ones_used(hm, tmp_path):
    """A segmentation provider exported with n_segments=50 is rebuilt with 50, not the default."""
    from jndtf.edge import JndMapper

    from jndtf.priors.modalities import get_provider

    model, fp32, _ = hm
    seg = get_provider("segmentation", n_segments=50)

    def fewer_segments(inputs):
        inputs["providers"][2] = seg.describe()

    path = _copy(fp32, tmp_path / "seg", fewer_segments)
    frame = _frame(64, 48, seed=5)
    with JndMapper.create_from_model_path(path) as mapper:
        jnd = mapper.process(frame).jnd
    want = _keras_jnd(model, frame, {"segmentation": seg})
    np.testing.assert_allclose(jnd, want, atol=TOL_FP32)


def test_keras_provider_and_unknown_channels_are_refused_by_name(hm, tmp_path):
    from jndtf.edge import JndMapper

    _, fp32, _ = hm

    def keras_depth(inputs):
        inputs["providers"][1] = {
            "kind": "depth",
            "name": "my_depth.keras",
            "implementation": "jndtf.priors.modalities.ModelProvider",
            "settings": {"model": "/somewhere/my_depth.keras", "backend": "keras"},
            "model_sha256": "0" * 64,
        }

    path = _copy(fp32, tmp_path / "keras", keras_depth)
    with pytest.raises(ValueError, match=r"depth provider 'my_depth.keras' is a Keras model"):
        JndMapper.create_from_model_path(path)

    def other_constant(inputs):  # not a constructor setting: this jndtf's code fixes it
        inputs["providers"][1]["settings"]["defocus_sigma0"] = 2.0

    path = _copy(fp32, tmp_path / "constant", other_constant)
    with pytest.raises(ValueError, match=r"depth provider was recorded as .*defocus_sigma0"):
        JndMapper.create_from_model_path(path)

    def cam_channel(inputs):
        inputs["channel_names"][3] = "cam"

    path = _copy(fp32, tmp_path / "cam", cam_channel)
    with pytest.raises(ValueError, match=r"\['cam'\] cannot be built by the edge runtime"):
        JndMapper.create_from_model_path(path)


def test_tflite_provider_from_the_manifest(hm, tmp_path):
    """A depth provider that is a user .tflite network: found beside the manifest, sha256
    checked, run by LiteRT; the map equals Keras on the input built with the same provider."""
    keras = pytest.importorskip("keras")
    from jndtf.edge import JndMapper
    from jndtf.export.quantization import QuantizationConfig
    from jndtf.export.tflite import convert_model

    from jndtf.priors.modalities import get_provider

    model, fp32, _ = hm
    keras.utils.set_random_seed(1)
    net = keras.Sequential(
        [keras.Input((None, None, 3)), keras.layers.Conv2D(1, 3, padding="same")]
    )
    net_path = tmp_path / "src" / "depth_net.tflite"
    net_path.parent.mkdir()
    net_path.write_bytes(convert_model(net, None, 3, QuantizationConfig.none()))
    depth = get_provider("depth", net_path, max_side=None)
    record = depth.describe()
    path = _copy(fp32, tmp_path / "m", lambda inputs: inputs["providers"].__setitem__(1, record))
    with pytest.raises(FileNotFoundError, match=r"depth provider network depth_net.tflite"):
        net_path.rename(tmp_path / "elsewhere.tflite")
        JndMapper.create_from_model_path(path)
    shutil.copy(tmp_path / "elsewhere.tflite", path.parent / "depth_net.tflite")
    frame = _frame(64, 48, seed=11)
    with JndMapper.create_from_model_path(path) as mapper:
        jnd = mapper.process(frame).jnd
    np.testing.assert_allclose(jnd, _keras_jnd(model, frame, {"depth": depth}), atol=TOL_FP32)
    (path.parent / "depth_net.tflite").write_bytes(b"changed")
    with pytest.raises(ValueError, match=r"sha256 .* depth provider - refusing"):
        JndMapper.create_from_model_path(path)


def test_stream_cli_runs_the_export(hm, tmp_path):
    """`jndtf stream SRC --model hmjnd.tflite` on a few frames of a synthetic clip."""
    import typer.testing

    import jndtf.cli.stream  # noqa: F401  (registers `jndtf stream`)
    from jndtf.cli import app
    from jndtf.samples import synthesize_clip

    _, fp32, _ = hm
    clip = synthesize_clip(tmp_path / "clip.mp4", seconds=0.4, fps=10, size=(256, 176)).path
    stats = tmp_path / "s.jsonl"
    result = typer.testing.CliRunner().invoke(
        app,
        ["stream", str(clip), "--model", str(fp32.path), "--max-frames", "3", "--stats",
         str(stats), "-o", str(tmp_path / "out")],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in stats.read_text().splitlines()]
    assert lines[-1]["type"] == "summary" and lines[-1]["frames"] == 3


# ------------------------------------------------------------------------- jndtf bench models


def test_bench_times_the_modality_input_and_counts_macs(hm, tmp_path):
    """`jndtf bench models --model-file hmjnd.tflite`: the input is the family's 6 channels
    (RGB / 255 + the providers' maps, as built here), timed with the priors, and MAC/px is the
    registered count."""
    from jndtf.bench.models import ModelBenchSettings, bench_models, time_inputs
    from jndtf.bench.source import resolve_files
    from jndtf.models.registry import get_model_spec
    from jndtf.priors.modalities import modality_stack

    _, fp32, _ = hm
    settings = ModelBenchSettings(
        None, sizes=((64, 48),), runtimes=("tflite-fp32",), runs=1, warmup=1, threads=1,
        model_files=(fp32.path,),
    )  # fmt: skip
    result = bench_models(settings)
    (row,) = result.rows
    assert row["runtime"] == "tflite-fp32" and row["file"] == fp32.path.name
    assert row["mac_per_px"] == get_model_spec("hmjnd_tiny").macs_per_pixel()
    assert row["priors_ms"] > 0 and row["median_ms"] > 0
    source, _ = resolve_files([fp32.path])
    frame = _frame(64, 48, seed=2)
    _, x = time_inputs(frame, source, runs=1, warmup=1)
    want = np.concatenate([frame / np.float32(255.0), modality_stack(frame)], -1)[None]
    np.testing.assert_array_equal(x, want.astype(np.float32))


def test_bench_builds_an_untrained_model_when_no_weights_ship(tmp_path, monkeypatch):
    """A registered name without shipped weights is timed as an untrained build, labelled so."""
    from jndtf import refs
    from jndtf.bench.models import ModelBenchSettings, _source

    # hmjnd_tiny ships now: an empty weights folder stands for a release without it
    monkeypatch.setattr(refs, "WEIGHTS_ROOT", tmp_path / "no_weights")
    notes: list[str] = []
    source, files = _source(ModelBenchSettings("hmjnd_tiny"), tmp_path, notes)
    assert files is None and source.name == "hmjnd_tiny-untrained"
    assert source.preset == "hmjnd_tiny" and source.keras_path == tmp_path / (
        "hmjnd_tiny-untrained.keras"
    )
    assert any("UNTRAINED" in n for n in notes)
    again, _ = _source(ModelBenchSettings("hmjnd_tiny"), tmp_path, [])
    assert again.keras_path.stat().st_mtime == source.keras_path.stat().st_mtime  # reused


def test_bench_export_cache_exports_through_the_family_loader(hm, tmp_path):
    """`jndtf bench models hmjnd_tiny:PATH` exports the .keras itself (ExportCache): through
    the family loader, so the file takes RGB + the modality maps and its edge map is the Keras
    |I - I_rr| (load_learned's RGB + priors wrapper would not describe this input)."""
    from jndtf.edge import JndMapper

    from jndtf.bench.exports import ExportCache
    from jndtf.bench.models import ModelBenchSettings, _source

    model, _, folder = hm
    source, files = _source(ModelBenchSettings(f"hmjnd_tiny:{folder / 'hm.keras'}"), tmp_path, [])
    assert files is None and source.preset == "hmjnd_tiny"
    path = ExportCache(source, tmp_path / "exports").get("tflite-fp32", (64, 48))
    manifest = json.loads(path.with_suffix(".json").read_text())
    assert manifest["outputs"]["kind"] == "image"
    frame = _frame(64, 48, seed=5)
    with JndMapper.create_from_model_path(path) as mapper:
        got = mapper.process(frame).jnd
    np.testing.assert_allclose(got, _keras_jnd(model, frame), atol=TOL_FP32)  # as fp32 above


def test_hmjnd_opens_the_shipped_hmjnd_tiny_in_stream_and_bench(hm, hm_int8, tmp_path, monkeypatch):
    """With hmjnd_tiny shipped as the lead ships it (``jndtf/weights/hmjnd/hmjnd_tiny.keras`` +
    its int8 edge export; here a stand-in weights folder), ``hmjnd`` opens those files: the
    edge runtime the int8 export (the same map as opening the file by path), bench the .keras
    with the preset its manifest names."""
    from jndtf.edge import JndMapper, JndMapperOptions

    import jndtf.refs
    from jndtf.bench.source import model_source
    from jndtf.priors.modalities import describe_stack

    _, _, folder = hm
    weights = tmp_path / "weights" / "hmjnd"
    (weights / "edge").mkdir(parents=True)
    shutil.copy(folder / "hm.keras", weights / "hmjnd_tiny.keras")
    train = {"family": "hmjnd", "preset": "hmjnd_tiny", "modality_providers": describe_stack()}
    (weights / "hmjnd_tiny.json").write_text(json.dumps(train))
    lite = weights / "edge" / "hmjnd_tiny-tflite-int8.tflite"
    shutil.copy(hm_int8.path, lite)
    manifest = json.loads(hm_int8.path.with_suffix(".json").read_text())
    lite.with_suffix(".json").write_text(json.dumps({**manifest, "file": lite.name}))
    monkeypatch.setattr(jndtf.refs, "WEIGHTS_ROOT", tmp_path / "weights")

    frame = _frame(*FIXED, seed=7)
    with JndMapper.create_from_options(JndMapperOptions(model="hmjnd")) as mapper:
        got = mapper.process(frame).jnd
    with JndMapper.create_from_model_path(hm_int8.path) as mapper:
        want = mapper.process(frame).jnd
    np.testing.assert_array_equal(got, want)  # the same file, the same interpreter
    source = model_source("hmjnd")
    assert (source.preset, source.keras_path) == ("hmjnd_tiny", weights / "hmjnd_tiny.keras")
