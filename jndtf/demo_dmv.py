"""The DMV-JND example of the demo (README command 1; Jin et al., TCSVT 2022; issue #11).

The demo's photos (the shipped samples, or ``--data``) become CIFAR-sized inputs: the centre
square of each, resized to 32x32 with OpenCV's ``INTER_AREA`` (a whole scene, as a CIFAR-10
image is). Then, with the shipped models of ``jndtf/weights/dmv`` (:func:`shipped_models`):

1. e = DMV-JND-NET(x / 255 stacked with the merged CAM of the four classifiers' consensus
   class) and x̂ = round(clip(x + e)) as uint8, what ``jndtf dmv`` writes;
2. every classifier's label on x and on x̂ (the four CAM classifiers, and the unseen
   MobileNet-style fifth when it ships), with the class names of ``classifiers.json``;
3. RCA per classifier (eq. (16)), its eq. (17) mean and the mean PSNR of x̂ vs x.

Writes ``OUT/dmv/<image>.png`` (x | 128 + e | x̂, each shown 4x, nearest neighbour),
``OUT/dmv/labels.csv`` and ``OUT/dmv/summary.md``. Needs the ``[train]`` extra and the shipped
weights; :func:`skip_reason` says which is missing so the demo prints one line instead.

Example:
    >>> result = run_dmv_example(images, Path("out/demo/dmv"))
    >>> print(result.markdown())
"""

from __future__ import annotations

import csv
import importlib.util
import io
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from jndtf.io import atomic_write_bytes, save_image

Progress = Callable[[str, int, int], None]

#: Display scale of the panels (a 32x32 image is shown 128x128).
ZOOM = 4
#: e is shown as 128 + E_GAIN * e, clipped (grey = no change; pixel units: a DMV-JND at the
#: paper's ~10 dB PSNR moves pixels by tens of grey levels).
E_GAIN = 1.0


def cifar_input(image: np.ndarray) -> np.ndarray:
    """The centre square of an RGB image resized to 32x32 (``cv2.INTER_AREA``), uint8."""
    from jndtf.evaluate.dmv import INPUT_SIZE

    h, w = image.shape[:2]
    side = min(h, w)
    y, x = (h - side) // 2, (w - side) // 2
    crop = np.ascontiguousarray(image[y : y + side, x : x + side, :3])
    return cv2.resize(crop, INPUT_SIZE, interpolation=cv2.INTER_AREA).astype(np.uint8)


def skip_reason() -> str | None:
    """Why the example cannot run here (one line naming what to install or train), or None."""
    from jndtf.evaluate.dmv import resolve_classifiers, resolve_dmv

    if importlib.util.find_spec("keras") is None:
        return 'it needs the [train] extra: pip install "jndtf[train]"'
    try:
        resolve_dmv(None)
        resolve_classifiers(None)
    except FileNotFoundError as err:
        return str(err)
    return None


def class_names(folder: Path, classes: int) -> list[str]:
    """The class names of the shipped ``classifiers.json`` (``class <k>`` where it has none)."""
    try:
        names = json.loads((folder / "classifiers.json").read_text()).get("class_names")
    except (OSError, ValueError, AttributeError):
        names = None
    if isinstance(names, list) and len(names) >= classes:
        return [str(n) for n in names]
    return [f"class {k}" for k in range(classes)]


@dataclass(frozen=True)
class DmvExample:
    """What :func:`run_dmv_example` measured (``markdown()`` goes into the demo's summary)."""

    out_dir: Path
    images: list[str]
    before: dict[str, list[str]]  # classifier -> class name per image, on x
    after: dict[str, list[str]]  # ... on the uint8 x̂
    rca: dict[str, float]
    mean_rca: float
    psnr_db: list[float]
    unseen: str | None = None

    def markdown(self) -> str:
        names = list(self.before)
        mean_psnr = float(np.mean([p for p in self.psnr_db if np.isfinite(p)] or [np.inf]))
        lines = [
            "### DMV-JND for machine vision (shipped DMV-JND-NET and classifiers)",
            "",
            f"{len(self.images)} images, centre square resized to 32x32; x̂ = round(clip(x + e)) "
            f"as uint8 PNG. Mean RCA of the four (eq. 17): {100 * self.mean_rca:.1f} %, mean "
            f"PSNR of x̂ vs x: {mean_psnr:.2f} dB. Panels: {self.out_dir}/<image>.png "
            "(x | e | x̂).",
            "",
            "| image | PSNR (dB) | " + " | ".join(f"{n}: x -> x̂" for n in names) + " |",
            "|" + "---|" * (2 + len(names)),
        ]
        for i, img in enumerate(self.images):
            cells = [
                f"{self.before[n][i]} -> {self.after[n][i]}"
                + ("" if self.before[n][i] == self.after[n][i] else " (changed)")
                for n in names
            ]
            lines.append(f"| {img} | {self.psnr_db[i]:.2f} | " + " | ".join(cells) + " |")
        lines += [
            "| RCA (eq. 16) | | " + " | ".join(f"{100 * self.rca[n]:.0f} %" for n in names) + " |"
        ]
        if self.unseen:
            lines += ["", f"`{self.unseen}` never took part in DMV training (the unseen fifth)."]
        return "\n".join(lines)


def panel(x: np.ndarray, e: np.ndarray, x_hat: np.ndarray) -> np.ndarray:
    """x | e (128 + :data:`E_GAIN` e, clipped) | x̂, each :data:`ZOOM` x (nearest), uint8."""
    e_view = np.clip(np.rint(128.0 + E_GAIN * np.asarray(e, np.float32)), 0, 255).astype(np.uint8)
    parts = [np.kron(p, np.ones((ZOOM, ZOOM, 1), np.uint8)) for p in (x, e_view, x_hat)]
    gap = np.full((parts[0].shape[0], 4, 3), 255, np.uint8)
    return np.concatenate([parts[0], gap, parts[1], gap, parts[2]], axis=1)


def run_dmv_example(
    images: Mapping[str, np.ndarray], out_dir: Path, progress: Progress | None = None
) -> DmvExample:
    """The DMV-JND example on `images` (name -> RGB uint8, any size) with the shipped models;
    writes into `out_dir` (module docstring).

    Raises:
        FileNotFoundError: the shipped weights are absent (:func:`skip_reason` first).
    """
    from jndtf.evaluate.dmv import (
        apply_perturbation,
        dmv_perturbation,
        load_classifier,
        load_classifiers,
        load_dmv_net,
        predict_labels,
        rca_per_classifier,
        resolve_classifiers,
        resolve_dmv,
        resolve_unseen,
        to_uint8,
    )
    from jndtf.metrics import mean_rca, psnr

    report = progress or (lambda *_: None)
    report("DMV-JND: models", 0, 3)
    folder, dmv_path = resolve_classifiers(None), resolve_dmv(None)
    classifiers = load_classifiers(folder)
    scored = dict(classifiers)
    unseen_path = resolve_unseen(None, None)
    if unseen_path is not None:
        scored[unseen_path.stem] = load_classifier(unseen_path, "the unseen classifier", cam=False)
    dmv_model = load_dmv_net(dmv_path)
    names = list(images)
    x = np.stack([cifar_input(images[k]) for k in names])
    report("DMV-JND: e", 1, 3)
    e, _ = dmv_perturbation(dmv_model, classifiers, x)
    x_hat = to_uint8(apply_perturbation(x, e))
    report("DMV-JND: labels", 2, 3)
    before = {k: predict_labels(m, x) for k, m in scored.items()}
    after = {k: predict_labels(m, x_hat) for k, m in scored.items()}
    n_classes = 1 + max(int(v.max()) for v in (*before.values(), *after.values()))
    text = class_names(folder, n_classes)
    rca = rca_per_classifier(before, after)
    psnrs = [float(psnr(a, b)) for a, b in zip(x, x_hat, strict=True)]
    out_dir = Path(out_dir)
    for i, name in enumerate(names):
        save_image(out_dir / f"{name}.png", panel(x[i], e[i], x_hat[i]))
    rows = []
    for i, name in enumerate(names):
        row = {"image": name, "psnr_db": round(psnrs[i], 3)}
        for k in scored:
            row[f"{k}_before"] = text[before[k][i]]
            row[f"{k}_after"] = text[after[k][i]]
        rows.append(row)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_bytes(out_dir / "labels.csv", buf.getvalue().encode())
    result = DmvExample(
        out_dir=out_dir,
        images=names,
        before={k: [text[c] for c in v] for k, v in before.items()},
        after={k: [text[c] for c in v] for k, v in after.items()},
        rca=rca,
        mean_rca=mean_rca(rca[k] for k in classifiers),
        psnr_db=psnrs,
        unseen=unseen_path.stem if unseen_path is not None else None,
    )
    atomic_write_bytes(out_dir / "summary.md", (result.markdown() + "\n").encode())
    report("DMV-JND: done", 3, 3)
    return result


__all__ = [
    "DmvExample",
    "cifar_input",
    "class_names",
    "panel",
    "run_dmv_example",
    "skip_reason",
]
