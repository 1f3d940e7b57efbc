"""The CLI's jobs as library functions: one image in, files out (atomically), a record back.

Each function handles a single image so that the caller (the CLI, a script, a notebook) owns the
loop, the progress bar and the policy for bad files. Output layout, the same for every job:
``OUT/<image stem>/<map name>.png`` (scaled for viewing) + ``.npy`` (float32, real units).
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from jndtf.io import (
    atomic_write_bytes,
    check_lossless,
    iter_images,
    load_image,
    map_to_png,
    save_image,
    save_npy,
)
from jndtf.tiling import DEFAULT_TILE


def resolve_inputs(path: str | Path) -> list[Path]:
    """An image file -> [it]; a folder -> its images, sorted (FileNotFoundError, ValueError)."""
    path = Path(path)
    if path.is_dir():
        files = list(iter_images(path))
        if not files:
            raise ValueError(f"{path}: folder holds no images (looked for .png, .jpg, ...)")
        return files
    if path.is_file():
        return [path]
    raise FileNotFoundError(f"{path}: no such file or folder")


def write_map(out_dir: Path, name: str, value: np.ndarray) -> list[Path]:
    """Writes `value` as NAME.npy (exact) and NAME.png (:mod:`jndtf.render`: inferno colour
    map, colour bar with its units; ``jnd_*`` maps are captioned "JND (grey levels)")."""
    npy, png = out_dir / f"{name}.npy", out_dir / f"{name}.png"
    save_npy(npy, value.astype(np.float32))
    units = MAP_UNITS.get(name, "grey levels")
    label = "JND" if name.startswith("jnd") else name
    vmax = 1.0 if name in UNIT_MAPS else None
    save_image(png, map_to_png(value, vmax=vmax, units=units, label=label))
    return [npy, png]


#: maps that live in 0..1 (shown 0 -> black, 1 -> top colour instead of percentile scaling)
UNIT_MAPS = {"edge_protect", "saliency"}

#: units of the maps that are not in grey levels (jndtf.priors.describe() gives them all)
MAP_UNITS = {
    "edge_protect": "unitless",
    "saliency": "unitless",
    "pattern_complexity": "orientations",
}


@dataclass(frozen=True)
class PriorsRecord:
    """What `write_priors` did for one image."""

    image: Path
    files: list[Path]
    seconds: float


def write_priors(
    image_path: Path, out_root: Path, names: Sequence[str] | None = None
) -> PriorsRecord:
    """Computes the prior maps of one image and writes them under ``out_root/<stem>/``."""
    from jndtf import priors

    image = load_image(image_path)
    t0 = time.perf_counter()
    maps = priors.compute_all(image, names=names)
    seconds = time.perf_counter() - t0
    out_dir = out_root / image_path.stem
    files: list[Path] = []
    for name, value in maps.items():
        files += write_map(out_dir, name, value)
    return PriorsRecord(image_path, files, seconds)


def jnd_function(model: str):
    """``fn(image) -> HxWxC float32`` JND map for a model reference as
    :func:`jndtf.refs.resolve_model` reads it (``runtime="keras"``): a classical baseline name,
    ``uniform`` (the control), a registered learned model with shipped weights (e.g. ``acol``:
    its ``.keras``), ``SPEC:PATH`` or a ``.keras`` path.

    Learned models need the [train] extra and are loaded once per process.

    Raises:
        KeyError: an unknown name (:class:`jndtf.refs.UnknownModelError`, also a ValueError;
            the message lists the known ones).
        FileNotFoundError: a learned model without weights, or a missing file.
    """
    from jndtf import baselines
    from jndtf.refs import resolve_model

    ref = resolve_model(model, runtime="keras")
    if ref.kind == "classical":
        return baselines.get(ref.name)
    if ref.kind == "control":
        from jndtf.evaluate.models import uniform_jnd

        return uniform_jnd
    return _learned(ref)


@functools.cache
def _learned(ref):
    from jndtf.evaluate.learned import load_learned

    return load_learned(ref)


def compute_jnd(
    image: np.ndarray,
    model: str,
    *,
    tile: int | None = DEFAULT_TILE,
    max_megapixels: float | None = None,
    progress=None,
) -> np.ndarray:
    """The JND map of `model` (see :func:`jnd_function`) for an RGB image, HxWxC float32.

    Large images stay within a memory bound (:mod:`jndtf.tiling`): a classical model runs band
    by band (each band about ``tile**2`` pixels plus the model's halo; the same map as the whole
    image, :mod:`jndtf.baselines._bands`), a learned one in overlapping ``tile`` x ``tile``
    tiles blended together. ``tile=None`` or 0 computes the whole image at once.

    Raises:
        ImageTooLargeError: more than `max_megapixels` (default ``$JNDTF_MAX_MEGAPIXELS`` or
            120) megapixels.
    """
    from jndtf.io import check_image
    from jndtf.refs import resolve_model
    from jndtf.tiling import check_array_megapixels

    check_array_megapixels(image, max_megapixels)
    fn = jnd_function(model)
    ref = resolve_model(model, runtime="keras")
    if ref.kind in ("classical", "control"):
        rgb = check_image(image)
        h, w = rgb.shape[:2]
        if ref.kind == "classical" and tile and h * w > tile * tile:
            from jndtf.baselines._bands import band_rows_for, run_banded

            rows = band_rows_for(ref.name, w, tile * tile)
            return run_banded(ref.name, rgb, band_rows=rows, progress=progress)
        return np.asarray(fn(rgb), dtype=np.float32)
    return np.asarray(fn(image, tile=tile, progress=progress), dtype=np.float32)


@dataclass(frozen=True)
class JndRecord:
    """What `write_jnd` did for one image."""

    image: Path
    model: str
    files: list[Path]
    seconds: float
    mean_jnd: float


def write_jnd(
    image_path: Path,
    out_root: Path,
    model: str,
    *,
    tile: int | None = DEFAULT_TILE,
    max_megapixels: float | None = None,
    progress=None,
) -> JndRecord:
    """Computes `model`'s JND map of one image and writes ``out_root/<stem>/jnd_<model>.*``.

    An image above `max_megapixels` is refused from its header, before it is decoded
    (:func:`jndtf.tiling.check_megapixels`); `tile` and `progress` as in :func:`compute_jnd`.
    """
    from jndtf.tiling import check_megapixels

    check_megapixels(image_path, max_megapixels)
    image = load_image(image_path)
    t0 = time.perf_counter()
    jnd = compute_jnd(image, model, tile=tile, max_megapixels=max_megapixels, progress=progress)
    seconds = time.perf_counter() - t0
    from jndtf.refs import resolve_model

    label = resolve_model(model, runtime="keras").label  # a file: its stem
    files = write_map(out_root / image_path.stem, f"jnd_{label}", jnd)
    return JndRecord(image_path, model, files, seconds, float(jnd.mean()))


@dataclass(frozen=True)
class InjectRecord:
    """What `write_injection` did for one image (also written as a JSON sidecar)."""

    image: str
    output: str
    jnd_source: str
    target_psnr: float | None
    target_mse: float | None
    psnr: float
    mse: float
    scale: float
    seed: int
    seconds: dict = field(default_factory=dict)


def load_jnd_file(path: Path, shape: tuple[int, int]) -> np.ndarray:
    """Reads a .npy JND map (HxW, HxWx1 or HxWx3, float, pixel units) and checks its size."""
    path = Path(path)
    if path.suffix != ".npy":
        raise ValueError(
            f"{path}: --jnd takes a .npy map in pixel units (as written by "
            "`jndtf baseline`); PNG previews are scaled and cannot be used"
        )
    try:
        jnd = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as err:
        raise ValueError(f"{path}: not a readable .npy file ({err})") from None
    if jnd.shape[:2] != tuple(shape):
        raise ValueError(
            f"{path}: JND map is {jnd.shape[0]}x{jnd.shape[1]} but the image is "
            f"{shape[0]}x{shape[1]}"
        )
    return jnd.astype(np.float32)


def write_injection(
    image_path: Path,
    output: Path,
    *,
    model: str | None = None,
    jnd_path: Path | None = None,
    psnr: float | None = None,
    mse: float | None = None,
    seed: int = 0,
) -> InjectRecord:
    """Eq. (7) noise injection of one image at a target PSNR or MSE; writes the image and
    ``OUT.json`` beside it (the suffix replaced). `output` must be a lossless format (a JPEG
    would not hold the PSNR solved for); the PSNR/MSE recorded are those of the file on disk,
    read back after writing.

    Raises:
        ValueError: a lossy `output` suffix (before any work), or no JND source.
    """
    from jndtf.apply import inject
    from jndtf.apply.inject import psnr_from_mse

    output = check_lossless(output, "an injected image")
    image = load_image(image_path)
    t0 = time.perf_counter()
    if jnd_path is not None:
        jnd, source = load_jnd_file(jnd_path, image.shape[:2]), str(jnd_path)
    elif model is not None:
        jnd, source = compute_jnd(image, model), model
    else:
        raise ValueError("give a JND map (--jnd MAP.npy) or a model name (--model NAME)")
    t1 = time.perf_counter()
    res = inject(image, jnd, psnr=psnr, mse=mse, seed=seed)
    t2 = time.perf_counter()
    save_image(output, res.image)
    on_disk = float(np.mean((load_image(output).astype(np.float64) - image) ** 2))
    record = InjectRecord(
        str(image_path),
        str(output),
        source,
        psnr,
        mse,
        psnr_from_mse(on_disk),
        on_disk,
        float(res.scale),
        seed,
        {"jnd": round(t1 - t0, 4), "inject": round(t2 - t1, 4)},
    )
    sidecar = output.with_suffix(".json")
    atomic_write_bytes(sidecar, json.dumps(asdict(record), indent=2).encode())
    return record
