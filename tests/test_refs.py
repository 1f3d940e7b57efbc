"""jndtf.refs: one model reference for every command.

Checked against things independent of the resolver: the files under ``jndtf/weights/`` and the
manifests beside them, :func:`jndtf.baselines.available`, the model registry's specs, and what
each command's own loader actually opened (the ``.keras`` a LearnedJnd was read from, the
``.tflite`` the edge backend verified, the file bench times).
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from jndtf import baselines
from jndtf.refs import (
    DEFAULT_JND_MODEL,
    UNIFORM,
    ModelRef,
    UnknownModelError,
    known_models,
    resolve_model,
    split_label,
)

pytest_plugins = ("edge_fixtures",)  # exported_acol_dynamic

WEIGHTS = Path(__file__).resolve().parents[1] / "jndtf" / "weights"
RUNTIMES = ("keras", "litert")


def _jnd_specs() -> dict:
    from jndtf.models.registry import available_models, get_model_spec

    return {m: get_model_spec(m) for m in available_models()}


@pytest.mark.parametrize("runtime", RUNTIMES)
@pytest.mark.parametrize("name", baselines.available())
def test_every_classical_name_is_classical_in_every_runtime(name, runtime):
    ref = resolve_model(name, runtime=runtime)
    assert (ref.kind, ref.name, ref.label, ref.path) == ("classical", name, name, None)
    assert not ref.learned


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_labels_and_the_uniform_control(runtime):
    ref = resolve_model("flat=uniform", runtime=runtime)
    assert (ref.kind, ref.text, ref.label) == ("control", UNIFORM, "flat")
    assert resolve_model(" wu2017 ", runtime=runtime).label == "wu2017"  # stripped
    assert split_label("runs/lr=0.1/best.keras") == (None, "runs/lr=0.1/best.keras")  # a path
    assert resolve_model("a=runs/x.keras").label == "a"


def test_the_default_is_a_shipped_jnd_model_in_both_runtimes():
    # acol ships as .keras (fp32) and as the int8 edge export: both files exist in the tree
    keras = resolve_model(DEFAULT_JND_MODEL, runtime="keras")
    lite = resolve_model(DEFAULT_JND_MODEL, runtime="litert")
    assert keras.kind == lite.kind == "shipped"
    assert keras.path == WEIGHTS / "acol" / "acol.keras"
    assert lite.path == WEIGHTS / "acol" / "edge" / "acol-tflite-int8.tflite"
    # each resolved file's own manifest names the model and the format the runtime needs
    m_keras = json.loads(keras.manifest.read_text())
    m_lite = json.loads(lite.manifest.read_text())
    assert (m_keras["model_name"], m_keras["family"]) == ("acol", keras.family)
    assert m_lite["format"] == "tflite-int8" and m_lite["model_name"] == "acol"
    assert _jnd_specs()[DEFAULT_JND_MODEL].is_jnd


def test_known_models_match_the_files_and_the_registry():
    specs = _jnd_specs()
    k = known_models("keras")
    assert k["classical"] == baselines.available() and k["control"] == [UNIFORM]
    # a JND map or hmJND-Net's image I_rr (its map is |I - I_rr|)
    maps = {m for m, s in specs.items() if s.is_jnd or s.output_kind == "image"}
    assert k["learned"] == [m for m in specs if m in maps]
    assert "hmjnd_tiny" in k["learned"] and "poolnet_tiny" not in k["learned"]
    on_disk = {p.stem: p.parent.name for p in WEIGHTS.glob("*/*.keras")}
    assert set(k["shipped"]) == {m for m in on_disk if m in maps}
    # a family folder with one JND model not of its own name answers to the family's name
    assert set(k["aliases"]) == {f for f in set(on_disk.values()) - set(on_disk) if f in maps}
    # the edge exports whose manifest says JND map or I_rr: not DMV-JND's signed e
    # (outputs.kind dmv_jnd) nor the CAM classifier (schema jndtf.classifier/1)
    edge = {
        p.stem.removesuffix("-tflite-int8")
        for p in WEIGHTS.glob("*/edge/*-tflite-int8.tflite")
        if json.loads(p.with_suffix(".json").read_text()).get("outputs", {}).get("kind")
        in ("jnd_map", "image")
    }
    assert {"acol", "acol_student", "hmjnd_tiny"} <= edge
    assert set(known_models("litert")["shipped"]) >= edge
    assert not {"dmv", "resnet-cam"} & set(known_models("litert")["shipped"])


def test_registered_without_weights_resolves_but_asks_for_a_file():
    specs = _jnd_specs()
    missing = [
        m
        for m, s in specs.items()
        if s.is_jnd and not (WEIGHTS / s.family / f"{m}.keras").is_file()
    ]
    assert missing  # bl, bl_acol, ...: registered presets with no shipped weights
    ref = resolve_model(missing[0])
    assert (ref.kind, ref.preset, ref.family) == ("family", missing[0], specs[missing[0]].family)
    with pytest.raises(FileNotFoundError, match="ships no trained weights"):
        ref.model_path()


def test_spec_path_and_files(tmp_path):
    f = tmp_path / "best.keras"
    ref = resolve_model(f"acol:{f}")
    assert (ref.kind, ref.preset, ref.family, ref.path, ref.name) == (
        "keras",
        "acol",
        "acol",
        f,
        "best",
    )
    assert resolve_model(str(f)).preset is None  # no SPEC: the manifest beside it decides
    assert resolve_model(f).kind == "keras"  # a PathLike
    t = tmp_path / "m.tflite"
    assert resolve_model(t, runtime="litert").kind == "tflite"
    with pytest.raises(FileNotFoundError, match="no such model file"):
        resolve_model(t, runtime="litert").model_path()
    (tmp_path / "m.json").write_text('{"input_size": {"policy": "fixed"}}')
    assert resolve_model(t, runtime="litert").manifest == tmp_path / "m.json"


def _ship_hmjnd(root: Path, *, second: bool = False) -> dict[str, Path]:
    """A stand-in weights folder with hmJND-Net as the lead ships it: ``hmjnd_tiny.keras`` with
    the manifest ``jndtf train hmjnd`` writes (no ``outputs.kind``; its preset says it) and its
    int8 export (``outputs.kind: image``, as export writes it). Resolving reads no weights, so
    the files hold placeholder bytes."""
    folder = root / "hmjnd"
    (folder / "edge").mkdir(parents=True)
    keras_file = folder / "hmjnd_tiny.keras"
    keras_file.write_bytes(b"stand-in")
    train = {"family": "hmjnd", "preset": "hmjnd_tiny", "outputs": {"channels": 3, "units": "x"}}
    keras_file.with_suffix(".json").write_text(json.dumps(train))
    lite = folder / "edge" / "hmjnd_tiny-tflite-int8.tflite"
    lite.write_bytes(b"stand-in")
    export = {"family": "hmjnd", "preset": "hmjnd_tiny", "outputs": {"kind": "image"}}
    lite.with_suffix(".json").write_text(json.dumps(export))
    if second:
        (folder / "hmjnd_small.keras").write_bytes(b"stand-in")
        (folder / "hmjnd_small.json").write_text(json.dumps({**train, "preset": "hmjnd"}))
    return {"keras": keras_file, "litert": lite}


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_hmjnd_names_the_shipped_hmjnd_net_whatever_its_preset(tmp_path, monkeypatch, runtime):
    """``hmjnd`` (a family name and the full preset) opens the one shipped hmJND-Net file, the
    preset its manifest names (hmjnd_tiny), in the Keras commands (eval, jnd, export, bench:
    learned=True too) and the edge runtime alike; SPEC:PATH keeps the full preset."""
    import jndtf.refs

    files = _ship_hmjnd(tmp_path)
    monkeypatch.setattr(jndtf.refs, "WEIGHTS_ROOT", tmp_path)
    assert jndtf.refs.family_aliases(runtime) == {"hmjnd": "hmjnd_tiny"}
    for learned in (False, True) if runtime == "keras" else (False,):
        ref = resolve_model("hmjnd", runtime=runtime, learned=learned)
        assert (ref.kind, ref.path, ref.preset, ref.family, ref.label) == (
            "shipped",
            files[runtime],
            "hmjnd_tiny",
            "hmjnd",
            "hmjnd",
        )
    assert resolve_model("hmjnd_tiny", runtime=runtime).path == files[runtime]
    known = known_models(runtime)
    assert "hmjnd_tiny" in known["shipped"] and "hmjnd" not in known["shipped"]  # once (demo)
    assert known["aliases"] == ["hmjnd"]
    assert "hmjnd = the shipped hmjnd_tiny" in jndtf.refs.accepted_text(runtime)
    if runtime == "keras":
        assert resolve_model(f"hmjnd:{tmp_path / 'x.keras'}").preset == "hmjnd"


def test_a_family_with_two_shipped_models_has_no_alias(tmp_path, monkeypatch):
    import jndtf.refs

    _ship_hmjnd(tmp_path, second=True)
    monkeypatch.setattr(jndtf.refs, "WEIGHTS_ROOT", tmp_path)
    assert jndtf.refs.family_aliases("keras") == {}
    ref = resolve_model("hmjnd")  # the registered full preset again, without weights
    assert (ref.kind, ref.preset) == ("family", "hmjnd")


@pytest.mark.parametrize(
    ("text", "runtime", "parts"),
    [
        ("nope", "keras", ("unknown JND model 'nope'", "wu2017", "uniform", "acol")),
        ("nope", "litert", ("unknown model 'nope'", "jndtf export", "wu2017", "'acol'")),
        ("x.tflite", "keras", ("x.tflite", ".keras")),
        ("x.keras", "litert", ("x.keras", "jndtf export")),
        ("docs/notes.txt", "keras", ("docs/notes.txt", "not a model file")),
        ("poolnet_tiny", "keras", ("'poolnet_tiny'", "'saliency'", "not a JND map")),
        ("saliency", "keras", ("model family", "poolnet_tiny", "do not output a JND map")),
        ("bl", "litert", ("unknown model 'bl'", "jndtf export MODEL --int8")),
        ("", "keras", ("non-empty",)),
    ],
)
def test_errors_say_what_is_accepted(text, runtime, parts):
    with pytest.raises(UnknownModelError) as info:
        resolve_model(text, runtime=runtime)
    msg = str(info.value)
    assert "\n" not in msg and all(p in msg for p in parts), msg
    # one error type that both old call sites catch: KeyError (jnd, eval) and ValueError (edge)
    assert isinstance(info.value, KeyError) and isinstance(info.value, ValueError)


def test_learned_only_callers_refuse_classical_names():
    with pytest.raises(UnknownModelError, match="'wu2017' is a classical model"):
        resolve_model("wu2017", learned=True)
    with pytest.raises(UnknownModelError, match=r"unknown model 'nope'.*acol \(shipped\)"):
        resolve_model("nope", learned=True)
    with pytest.raises(ValueError, match="runtime must be one of"):
        resolve_model("acol", runtime="onnx")


def _run_fresh(code: str) -> str:
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_resolving_imports_no_tensorflow_and_litert_no_registry():
    out = _run_fresh(
        """
        import sys
        from jndtf.refs import resolve_model
        for name in ("acol", "wu2017", "x.tflite"):
            resolve_model(name, runtime="litert")
        print(sorted(m for m in sys.modules if m.split(".")[0] in ("tensorflow", "keras")
                     or m.startswith("jndtf.models") or m.startswith("jndtf.export")))
        resolve_model("acol")  # a shipped name: from the files, no registry
        print(any(m.split(".")[0] in ("tensorflow", "keras") or m.startswith("jndtf.models")
                  for m in sys.modules))
        resolve_model("bl")  # registered, not shipped: the registry (pure Python) answers
        print(any(m.split(".")[0] in ("tensorflow", "keras") for m in sys.modules))
        """
    )
    assert out.split("\n")[:3] == ["[]", "False", "False"], out


def test_same_word_same_model_in_bench_eval_and_stream(tmp_path):
    """bench and eval take acol's .keras, stream its int8 export: the files they open are the
    ones resolve_model names (checked without TensorFlow)."""
    from jndtf.edge.backends import fixed_input_size, load_backend, shipped_edge_model

    from jndtf.bench.source import model_source
    from jndtf.evaluate.models import resolve_models

    assert model_source("acol").keras_path == resolve_model("acol").path
    entries = resolve_models(["wu2017", "flat=uniform"])
    assert [(e.label, e.kind) for e in entries] == [("wu2017", "classical"), ("flat", "control")]
    image = np.random.default_rng(0).integers(0, 256, (40, 48, 3), dtype=np.uint8)
    np.testing.assert_array_equal(entries[0].fn(image), baselines.get("wu2017")(image))
    lite = resolve_model("acol", runtime="litert")
    assert shipped_edge_model("acol") == lite.path and shipped_edge_model("../acol") is None
    pytest.importorskip("ai_edge_litert")
    backend = load_backend("acol")
    try:
        assert backend.spec.path.resolve() == lite.path.resolve()
        # the size stream reads from the manifest is the one the opened model runs at
        assert fixed_input_size("acol") == tuple(backend.input_size)
    finally:
        backend.close()
    assert fixed_input_size("wu2017") is None
    with pytest.raises(ValueError, match="control"):
        load_backend("uniform")


@pytest.mark.tf
def test_same_word_same_model_in_jnd():
    """jndtf jnd/inject load acol's .keras: the file LearnedJnd read is the resolved one."""
    from jndtf.jobs import jnd_function

    fn = jnd_function("acol")
    assert Path(fn.source) == resolve_model("acol").path
    assert fn.priors == _jnd_specs()["acol"].priors
    assert isinstance(resolve_model("acol"), ModelRef)


@pytest.mark.parametrize("model", ["acol", "dynamic", "wu2017"])
def test_stream_opens_its_model_once(model, monkeypatch, request):
    """``jndtf stream`` used to open a dynamic or classical model twice (a probe at scale 1, then
    the real one): now one open, one manifest + sha256 check, and the default jnd_scale still
    follows the model (1 for a fixed-size export, DEFAULT_JND_SCALE otherwise)."""
    pytest.importorskip("ai_edge_litert")
    from jndtf.edge import backends, stream

    if model == "dynamic":
        model = str(request.getfixturevalue("exported_acol_dynamic").path)
    opened, specs = [], []
    load, read = backends.load_backend, backends.read_deploy_spec
    monkeypatch.setattr(backends, "load_backend", lambda *a: opened.append(a) or load(*a))
    monkeypatch.setattr(backends, "read_deploy_spec", lambda p: specs.append(p) or read(p))
    import jndtf.edge.runtime as runtime

    monkeypatch.setattr(runtime, "load_backend", backends.load_backend)
    mapper = stream._open_mapper(stream.StreamSettings(source="unused.mp4", model=model))
    try:
        fixed = mapper.input_size is not None
        assert len(opened) == 1 and len(specs) == (0 if model == "wu2017" else 1)
        assert mapper.options.jnd_scale == (1.0 if fixed else stream.DEFAULT_JND_SCALE)
        assert fixed == (model == "acol")  # the shipped int8 export is fixed at 320x180
    finally:
        mapper.close()
