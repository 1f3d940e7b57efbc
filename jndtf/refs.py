"""One model reference: what a user types for a JND model, turned into a typed :class:`ModelRef`.

Every command that takes a JND model (``jndtf jnd``/``inject``, ``eval``, ``bench``, ``demo``,
``stream``, the edge :class:`~jndtf.edge.JndMapper`) passes the text through
:func:`resolve_model`, so the same word means the same thing everywhere. Accepted, in this
order:

- ``LABEL=REF``: any reference below with a row label (``jndtf eval`` names its rows with it;
  the other commands accept and ignore it);
- ``uniform``: the control of the evaluation, a constant map (plain ±noise, no JND shaping);
- a classical model of :mod:`jndtf.baselines` (``wu2017``, ``wu2013``, ...);
- a shipped name (``acol``): weights jndtf ships under ``jndtf/weights/``, found from the files
  there (no registry import): ``<family>/<name>.keras`` + ``<name>.json`` for Keras,
  ``<family>/edge/<name>-tflite-int8.tflite`` + its ``.json`` for LiteRT, when the manifest
  says the output is a map in JND units (``outputs.jnd_units``) or an image I_rr
  (hmJND-Net, whose JND map is ``|I - I_rr|``); a family folder that holds one such model
  and no file of the family's name answers to the family name too: ``hmjnd`` is the shipped
  hmJND-Net whatever preset it was trained with (``hmjnd_tiny``; the manifest names it, and
  :attr:`ModelRef.preset` carries it), in every runtime (:func:`family_aliases`);
- a registered preset of :mod:`jndtf.models.registry` whose output is a JND map (``bl``,
  ``bl_pmcm``, ...) or an image I_rr (``hmjnd_tiny``), or a family name that is also one of
  its presets; without shipped weights it resolves (kind ``"family"``) but loading it asks
  for a trained file;
- ``SPEC:PATH`` (``acol:runs/acol/best.keras``): registered preset SPEC describes the input, the
  file holds the weights;
- a file: ``.keras`` (Keras), ``.tflite`` (LiteRT export), ``.onnx`` (ONNX export); a path
  containing ``/`` is a file even when missing (``FileNotFoundError`` when it is loaded).

What a word resolves to depends only on the ``runtime`` of the command, never on the command:

=============================  ==========  ==============================================
command                        runtime     ``acol`` resolves to
=============================  ==========  ==============================================
``jndtf jnd``, ``inject``      keras       ``jndtf/weights/acol/acol.keras`` (fp32 Keras)
``jndtf eval``                 keras       ``jndtf/weights/acol/acol.keras``
``jndtf bench``                keras       ``jndtf/weights/acol/acol.keras`` (exports are
                                           made from it; ``--model-file`` times files)
``jndtf export``               keras       ``jndtf/weights/acol/acol.keras`` (the source)
``jndtf demo``                 keras       ``jndtf/weights/acol/acol.keras``
``jndtf stream``, JndMapper    litert      ``jndtf/weights/acol/edge/acol-tflite-int8
                                           .tflite`` (int8, fixed 320x180, sha256-checked)
=============================  ==========  ==============================================

A Keras command refuses a ``.tflite``/``.onnx`` file and the LiteRT runtime refuses a
``.keras`` file, each with a line that says which file to give instead. Resolving loads
nothing: no Keras, no TensorFlow, no LiteRT; a classical or shipped name or a file does not
even import the registry (the edge runtime's layer rule); only a registered name that ships
nothing, ``SPEC:PATH``, an unknown name's error and :func:`known_models` ask it.

Example:
    >>> resolve_model("acol").path.name
    'acol.keras'
    >>> resolve_model("acol", runtime="litert").path.name
    'acol-tflite-int8.tflite'
    >>> resolve_model("flat=uniform").label
    'flat'
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

#: The JND model every command uses when none is named (see the table in the module docstring).
DEFAULT_JND_MODEL = "acol"

#: The edge runtime's default (`jndtf stream`, `jndtf bench stream`): ACoL-JND's distilled
#: student, whose int8 export runs at 640x360 every frame (issue 14: >= 30 fps end to end on 2
#: cores, map PSNR >= 42 dB against the teacher at full size); ``acol`` (the teacher's int8 at
#: 320x180) stays one ``--model acol`` away.
DEFAULT_EDGE_MODEL = "acol_student"

#: The control model of the evaluation: a constant JND map (plain ±λ noise, no JND shaping).
UNIFORM = "uniform"

#: Folder of the weights jndtf ships (``<family>/<name>.keras``, ``<family>/edge/...``).
WEIGHTS_ROOT = Path(__file__).resolve().parent / "weights"

#: Format of the shipped edge exports: ``<family>/edge/<name>-tflite-int8.tflite``.
SHIPPED_EDGE_FORMAT = "tflite-int8"

#: The runtimes a command can ask for.
RUNTIMES = ("keras", "litert")

#: File suffix -> ModelRef.kind.
FILE_KINDS = {".keras": "keras", ".tflite": "tflite", ".onnx": "onnx"}

#: Kinds each runtime can run.
ACCEPTED = {
    "keras": ("classical", "control", "shipped", "family", "keras"),
    "litert": ("classical", "control", "shipped", "tflite"),
}


class UnknownModelError(ValueError, KeyError):
    """A model reference that names nothing known; the message lists what is accepted.

    A ValueError (and a KeyError, which the resolvers it replaces raised)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


@dataclass(frozen=True)
class ModelRef:
    """A resolved model reference (nothing loaded yet).

    Attributes:
        text: what the user typed, without the ``LABEL=`` prefix.
        kind: ``"classical"``, ``"control"`` (uniform), ``"shipped"`` (weights under
            ``jndtf/weights``), ``"family"`` (registered, no shipped weights), ``"keras"``,
            ``"tflite"`` or ``"onnx"`` (a file).
        name: the classical/registered/shipped name, or the file's stem.
        label: the row label (``LABEL=``) or `name`.
        runtime: ``"keras"`` or ``"litert"``, what it was resolved for.
        path: the model file (shipped or given), None for classical/control/family.
        manifest: the manifest beside `path` (``<stem>.json``) when it exists, else None.
        family: model family folder when known (``"acol"``), else None.
        preset: registered preset that describes the input (shipped name, ``SPEC`` of
            ``SPEC:PATH``, a registered name), else None.
    """

    text: str
    kind: str
    name: str
    label: str
    runtime: str = "keras"
    path: Path | None = None
    manifest: Path | None = None
    family: str | None = None
    preset: str | None = None

    @property
    def learned(self) -> bool:
        """A network (shipped, registered or a file), not a classical model or the control."""
        return self.kind not in ("classical", "control")

    def model_path(self) -> Path:
        """`path`, checked to exist.

        Raises:
            FileNotFoundError: a registered model without shipped weights, or a missing file.
        """
        if self.path is None:
            if self.kind == "family":
                where = WEIGHTS_ROOT / (self.family or self.name) / f"{self.name}.keras"
                raise FileNotFoundError(
                    f"learned model {self.name!r} is registered but jndtf ships no trained "
                    f"weights for it yet (looked for {where}); train it and pass the file, e.g. "
                    f"'{self.name}:path/to/model.keras'"
                )
            raise FileNotFoundError(f"{self.text}: a {self.kind} model has no file")
        if not self.path.is_file():
            raise FileNotFoundError(f"{self.path}: no such model file (the path does not exist)")
        return self.path

    def read_manifest(self) -> dict:
        """The JSON manifest beside the model file, {} when there is none
        (:func:`jndtf.manifest.read_source_manifest`: ``<stem>.json``, or a ``.keras`` run
        folder's ``manifest.json``; nothing verified).

        Raises:
            ValueError: a manifest that is not a readable JSON object (names the file).
        """
        from jndtf.manifest import read_source_manifest

        return read_source_manifest(self.path) if self.path is not None else {}


def _manifest_path(path: Path) -> Path | None:
    """``<stem>.json`` beside `path`, else a ``.keras`` run folder's ``manifest.json``."""
    candidates = [path.with_suffix(".json")]
    if path.suffix == ".keras":
        candidates.append(path.parent / "manifest.json")
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    return None


def _classical() -> list[str]:
    from jndtf import baselines

    return list(baselines.available())


def _shipped_files(runtime: str) -> dict[str, Path]:
    if not WEIGHTS_ROOT.is_dir():
        return {}
    out: dict[str, Path] = {}
    if runtime == "keras":
        for path in sorted(WEIGHTS_ROOT.glob("*/*.keras")):
            out.setdefault(path.stem, path)
    else:
        suffix = f"-{SHIPPED_EDGE_FORMAT}"
        for path in sorted(WEIGHTS_ROOT.glob(f"*/edge/*{suffix}.tflite")):
            out.setdefault(path.stem[: -len(suffix)], path)
    return out


def shipped_models(runtime: str = "keras") -> dict[str, Path]:
    """Shipped model files by name, found under ``jndtf/weights/`` (no registry import).

    ``runtime="keras"``: ``<family>/<name>.keras``; ``"litert"``:
    ``<family>/edge/<name>-tflite-int8.tflite``. Every shipped file is listed (the A-IQA
    classifier too), then each :func:`family_aliases` name (``hmjnd``: the one hmJND-Net file
    that ships, ``hmjnd_tiny``'s); :func:`known_models` keeps those that output a JND map.
    """
    _check_runtime(runtime)
    out = _shipped_files(runtime)
    for family, name in family_aliases(runtime).items():
        out.setdefault(family, out[name])
    return out


def _registry_jnd() -> tuple[list[str], dict]:
    """Registered presets a JND command takes (output kind in :data:`MAP_OUTPUT_KINDS`: a JND
    map, or hmJND-Net's image I_rr), and every spec by name (lazy import)."""
    from jndtf.models.registry import available_models, get_model_spec

    specs = {m: get_model_spec(m) for m in available_models()}
    return [m for m, s in specs.items() if s.output_kind in MAP_OUTPUT_KINDS], specs


def known_models(runtime: str = "keras") -> dict[str, list[str]]:
    """The names :func:`resolve_model` accepts without a path, by kind (for errors, ``--help``
    and ``jndtf list``).

    Keys: ``classical``, ``control``, ``shipped`` (JND models with weights under
    ``jndtf/weights``, each once: ``jndtf demo`` runs them all), ``aliases`` (family names
    that stand for one of them, :func:`family_aliases`) and, for ``runtime="keras"``,
    ``learned`` (registered presets whose output is a JND map or an image I_rr, shipped or
    not).
    """
    _check_runtime(runtime)
    out = {"classical": _classical(), "control": [UNIFORM]}
    aliases = family_aliases(runtime)
    files = _shipped_files(runtime)
    out["shipped"] = [n for n, p in files.items() if _ships_jnd(_manifest_of(p))]
    out["aliases"] = list(aliases)  # each one of the shipped models: not listed twice
    if runtime == "keras":
        out["learned"] = _registry_jnd()[0]
    return out


def _manifest_of(path: Path) -> dict:
    """The JSON manifest beside a shipped file ({} when missing or unreadable)."""
    manifest = _manifest_path(path)
    try:
        data = json.loads(manifest.read_text()) if manifest is not None else {}
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


#: Registry output kinds a JND command takes: a JND map, or an image I_rr whose JND map is
#: ``|I - I_rr|`` (hmJND-Net; :mod:`jndtf.evaluate.learned` makes the map).
MAP_OUTPUT_KINDS = ("jnd_map", "image")


def _ships_jnd(manifest: dict) -> bool:
    """A shipped file is a JND model when its manifest says its output is a map in JND units
    (``outputs.jnd_units``: ACoL-JND's ``.keras`` and int8 export) or an image I_rr
    (``outputs.kind == "image"``: hmJND-Net's export; its map is ``|I - I_rr|``). A manifest
    that says neither (``jndtf train hmjnd``'s, or none) is asked of the preset it names, in
    the registry; the A-IQA classifier's outputs are logits."""
    outputs = manifest.get("outputs", {})
    if not isinstance(outputs, dict):
        return False  # e.g. the A-IQA classifier's "logits (N, num_groups) ..."
    if "kind" in outputs:
        return outputs["kind"] in MAP_OUTPUT_KINDS
    if "jnd_units" in outputs:
        return True
    preset = manifest.get("preset") or manifest.get("model_name")
    if not isinstance(preset, str):
        return False
    specs = _registry_jnd()[1]
    return preset in specs and specs[preset].output_kind in MAP_OUTPUT_KINDS


def family_aliases(runtime: str = "keras") -> dict[str, str]:
    """Family names that stand for the one JND model shipped under ``jndtf/weights/<family>/``
    when no file there carries the family's name: ``{"hmjnd": "hmjnd_tiny"}`` once hmJND-Net's
    trained ``hmjnd_tiny`` ships, whatever preset it was trained with (its manifest says which:
    :attr:`ModelRef.preset`). A folder with several JND models gets no alias."""
    _check_runtime(runtime)
    files = _shipped_files(runtime)
    by_family: dict[str, list[str]] = {}
    for name, path in files.items():
        family = path.parent.name if runtime == "keras" else path.parent.parent.name
        by_family.setdefault(family, []).append(name)
    out = {}
    for family, names in by_family.items():
        if family in names:
            continue
        jnd = [n for n in names if _ships_jnd(_manifest_of(files[n]))]
        if len(jnd) == 1:
            out[family] = jnd[0]
    return out


def accepted_text(runtime: str = "keras", *, learned: bool = False) -> str:
    """One line: what :func:`resolve_model` accepts for `runtime` (error messages, --help);
    `learned`: only the learned models (what ``jndtf export`` and ``jndtf bench`` take)."""
    k = known_models(runtime)
    classical = ", ".join(k["classical"])
    aliases = family_aliases(runtime)
    alias_text = "".join(
        f"; {a} = the shipped {n} (its map is |I - I_rr|)"
        if _is_image(shipped_models(runtime)[a])
        else f"; {a} = the shipped {n}"
        for a, n in aliases.items()
    )
    if learned:
        shipped = set(k["shipped"])
        names = ", ".join(f"{n} (shipped)" if n in shipped else n for n in k["learned"])
        return f"learned models: {names}{alias_text}; or a .keras path / SPEC:PATH"
    if runtime == "litert":
        shipped = ", ".join(repr(n) for n in k["shipped"]) or "none"
        return (
            f"give a shipped model ({shipped}: int8 export{alias_text}), an exported .tflite "
            f"(any learned model: jndtf export MODEL --int8) or a classical model: {classical}"
        )
    shipped = ", ".join(k["shipped"]) or "none"
    return (
        f"classical: {classical}; control: {UNIFORM}; shipped: {shipped}{alias_text}; learned "
        f"(registered, need shipped weights; hmJND-Net's map is |I - I_rr|): "
        f"{', '.join(k['learned'])}; or a .keras path / SPEC:PATH, optionally LABEL=..."
    )


def _is_image(path: Path) -> bool:
    """The shipped file at `path` outputs an image I_rr (its manifest, else its preset's)."""
    data = _manifest_of(path)
    outputs = data.get("outputs")
    if isinstance(outputs, dict) and "kind" in outputs:
        return outputs["kind"] == "image"
    specs = _registry_jnd()[1]
    preset = data.get("preset") or data.get("model_name")
    return preset in specs and specs[preset].output_kind == "image"


def _check_runtime(runtime: str) -> None:
    if runtime not in RUNTIMES:
        raise ValueError(f"runtime must be one of {RUNTIMES}, got {runtime!r}")


def split_label(text: str) -> tuple[str | None, str]:
    """``"flat=uniform"`` -> ``("flat", "uniform")``; text without a label -> ``(None, text)``."""
    head, sep, tail = text.partition("=")
    if sep and head and tail and all(c.isalnum() or c in "_-." for c in head):
        return head, tail
    return None, text


def looks_like_path(text: str | os.PathLike) -> bool:
    """True when a reference names a file rather than a model name."""
    if isinstance(text, os.PathLike):
        return True
    return Path(text).suffix in FILE_KINDS or "/" in text or os.sep in text or Path(text).is_file()


def resolve_model(
    text: str | os.PathLike, *, runtime: str = "keras", learned: bool = False
) -> ModelRef:
    """Turns what a user typed into a :class:`ModelRef` (module docstring: the forms and what
    ``acol`` means per runtime). Loads nothing.

    Args:
        text: the reference.
        runtime: ``"keras"`` (``jnd``, ``inject``, ``eval``, ``bench``, ``export``, ``demo``)
            or ``"litert"`` (``stream``, the edge runtime).
        learned: only a learned network will do (``export``, ``bench``, ``load_learned``): a
            classical name or ``uniform`` is refused, and an unknown name is reported as
            "unknown model" with the learned ones listed; a registered network whose output
            is not a JND map (e.g. the saliency net) is accepted, since export and bench take
            any network. A word never changes meaning.

    Raises:
        UnknownModelError: a name nothing knows, a non-JND model, or a file this runtime
            cannot run (the message lists what is accepted). A ValueError and a KeyError.
    """
    _check_runtime(runtime)
    if isinstance(text, os.PathLike):
        return _file_ref(str(text), Path(text), None, None, runtime)
    if not isinstance(text, str) or not text.strip():
        raise UnknownModelError(f"a model reference must be a non-empty string, got {text!r}")
    label, ref = split_label(text.strip())
    if ref == UNIFORM or ref in _classical():
        if learned:
            what = "the evaluation's control" if ref == UNIFORM else "a classical model"
            raise UnknownModelError(
                f"{ref!r} is {what}, with no network to load; "
                f"{accepted_text(runtime, learned=True)}"
            )
        if ref == UNIFORM:
            return ModelRef(ref, "control", UNIFORM, label or UNIFORM, runtime)
        return ModelRef(ref, "classical", ref, label or ref, runtime)
    if runtime == "keras":
        head, sep, tail = ref.partition(":")
        if sep and tail and head.isidentifier():
            jnd_names, specs = _registry_jnd()
            if head in specs:
                if not learned:  # export/bench take any registered network (a saliency net too)
                    _check_jnd(head, jnd_names, specs, runtime)
                return _file_ref(ref, Path(tail), label, specs[head], runtime)
    if looks_like_path(ref):
        return _file_ref(ref, Path(ref), label, None, runtime)
    shipped = shipped_models(runtime)
    if ref in shipped and _ships_jnd(_manifest_of(shipped[ref])):
        return _shipped_ref(ref, shipped[ref], label, runtime)  # from the files, no registry
    if runtime == "litert":
        raise UnknownModelError(f"unknown model {ref!r}: {accepted_text(runtime)}")
    jnd_names, specs = _registry_jnd()
    if ref in specs:
        if not learned:
            _check_jnd(ref, jnd_names, specs, runtime)
        spec = specs[ref]
        return ModelRef(ref, "family", ref, label or ref, runtime, family=spec.family, preset=ref)
    presets = sorted(m for m, s in specs.items() if s.family == ref)
    if presets:
        jnd = [m for m in presets if m in jnd_names]
        what = (
            f"name one of its JND presets ({', '.join(jnd)})"
            if jnd
            else f"its presets ({', '.join(presets)}) do not output a JND map"
        )
        raise UnknownModelError(
            f"unknown JND model {ref!r}: it is a model family; {what}. Accepted: "
            f"{accepted_text(runtime)}"
        )
    hint = ""
    if ref in shipped:
        hint = f" ({ref} ships under {shipped[ref].parent}, but its output is not a JND map)"
    if learned:
        raise UnknownModelError(
            f"unknown model {ref!r}{hint}; {accepted_text(runtime, learned=True)}"
        )
    raise UnknownModelError(f"unknown JND model {ref!r}{hint}; known: {accepted_text(runtime)}")


def _check_jnd(name: str, jnd_names: list[str], specs: dict, runtime: str) -> None:
    if name not in jnd_names:
        kind = getattr(specs[name], "output_kind", "other")
        raise UnknownModelError(
            f"unknown JND model {name!r}: it is registered, but its output is {kind!r}, not a "
            f"JND map; known: {accepted_text(runtime)}"
        )


def _shipped_ref(name: str, path: Path, label: str | None, runtime: str) -> ModelRef:
    data = _manifest_of(path)
    stem = path.stem if runtime == "keras" else path.stem.removesuffix(f"-{SHIPPED_EDGE_FORMAT}")
    folder = path.parent if runtime == "keras" else path.parent.parent  # <family>/edge/...
    return ModelRef(
        name,
        "shipped",
        name,
        label or name,
        runtime,
        path=path,
        manifest=_manifest_path(path),
        family=data.get("family") or folder.name,
        preset=data.get("preset") or data.get("model_name") or stem,  # an alias: the file's
    )


def _file_ref(text: str, path: Path, label: str | None, spec, runtime: str) -> ModelRef:
    kind = FILE_KINDS.get(path.suffix)
    if kind is None:
        raise UnknownModelError(
            f"{path}: not a model file (give a .keras, .tflite or .onnx file, or a model name; "
            f"{accepted_text(runtime)})"
        )
    if kind not in ACCEPTED[runtime]:
        if runtime == "keras":
            what = (
                f"{path}: a {kind} export; this command runs Keras models, so give the .keras "
                "file it was exported from (learned models are read from .keras files; "
                "exported files go to `jndtf bench --model-file` or `jndtf stream`)"
            )
        else:
            what = (
                f"{path}: the edge runtime runs exported .tflite files; export this one first "
                "(jndtf export MODEL --int8)"
            )
        raise UnknownModelError(what)
    return ModelRef(
        text,
        kind,
        path.stem,
        label or path.stem,
        runtime,
        path=path,
        manifest=_manifest_path(path) if path.parent.is_dir() else None,
        family=getattr(spec, "family", None),
        preset=getattr(spec, "name", None),
    )


#: One sentence per command for its ``--help`` (what the model argument accepts).
HELP = {
    "keras": (
        "A JND model: a classical name (wu2017, ...), a shipped/registered learned name "
        f"(default {DEFAULT_JND_MODEL}: its fp32 .keras; hmjnd: hmJND-Net, the shipped preset "
        "its manifest names, hmjnd_tiny, map |I - I_rr|), a .keras file or SPEC:PATH."
    ),
    "litert": (
        f"A JND model: a shipped name ({DEFAULT_EDGE_MODEL}: its int8 .tflite at 640x360; "
        f"{DEFAULT_JND_MODEL}: its int8 .tflite at 320x180; hmjnd: hmJND-Net's int8 export once it "
        "ships), an exported .tflite file (jndtf export MODEL --int8) or a classical name."
    ),
}


__all__ = [
    "DEFAULT_EDGE_MODEL",
    "DEFAULT_JND_MODEL",
    "HELP",
    "MAP_OUTPUT_KINDS",
    "RUNTIMES",
    "UNIFORM",
    "WEIGHTS_ROOT",
    "ModelRef",
    "UnknownModelError",
    "accepted_text",
    "family_aliases",
    "known_models",
    "looks_like_path",
    "resolve_model",
    "shipped_models",
    "split_label",
]
