"""DMV-JND deployed (issue 11): RCA and JPEG bytes per machine-vision mode and factor, int8 LiteRT.

From trained models to the numbers a deployment asks for, in one run:

1. exports each CAM classifier of CLF (a `jndtf train classifiers` run folder or the shipped
   classifiers folder: ``alexnet.keras vgg.keras resnet.keras densenet.keras``) int8 at 32x32
   with its CAM output (:func:`jndtf.export.cam.export_cam_classifier`, as `jndtf export resnet
   --int8` does), and the E-D DMV (a ``dmv.keras``) int8 at a fixed 32x32
   (`jndtf export dmv --int8 --size 32x32`, LiteRT's fast path; the 640x360 frames run it per
   32x32 tile). Calibration images come from VAL but not from the images measured. Exports
   in OUT newer than their sources are reused (``--force``: export again);
2. on up to ``--max`` VAL images (e.g. the held-out CIFAR-10 split, class-per-folder) and on
   ``--frames`` 640x360 frames cut from jndtf's bundled sample photos (tiles layout: the CAM
   of each 32x32 tile), computes e with the edge :class:`jndtf.edge.dmv.DmvJnd` (the merged CAM
   of eq. (2) over ``--cams``), processes the image as `jndtf stream --classifier C --dmv D
   --mv-method M --mv-factor F` does, and reports for each (mode, factor): the RCA of the judge
   classifier (eq. (16): label of the processed image == label of the original), the JPEG bytes
   at an unchanged quality setting against the original's (negative: saved), and the PSNR;
3. prints the largest saving at RCA >= ``--min-rca`` (99 % by default) per image set and writes
   everything to ``OUT/dmv_deploy.csv`` and ``OUT/dmv_deploy.md``.

A 640x360 frame is labelled by the 32x32 classifier on the frame resized to 32x32 (what the
stream does); its RCA says how stable that label is, not how accurate it is.

    nice python benchmarks/dmv_deploy.py CLF DMV VAL [-o out/dmv_deploy] [--max 300]
    nice python benchmarks/dmv_deploy.py runs/clsA,runs/clsB runs/dmv/dmv.keras --split-of runs/clsA

CLF and DMV may also be already exported files: CLF a ``*-cam-*.tflite`` (the judge) and DMV an
E-D ``.tflite``; nothing is exported then.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

#: The four classifiers of a `jndtf train classifiers` run (eq. (2) merges their CAMs).
ARCHS = ("alexnet", "vgg", "resnet", "densenet")
#: Size of the frames cut from the bundled photos (width, height).
FRAME_SIZE = (640, 360)
#: Table columns: key, header, format.
TABLE = (
    ("set", "set", "s"),
    ("mode", "mode", "s"),
    ("factor", "factor", "g"),
    ("images", "images", "d"),
    ("rca", "RCA %", "pct"),
    ("bytes_change_pct", "JPEG bytes %", "+.2f"),
    ("psnr_db", "PSNR dB", ".2f"),
    ("max_abs_change", "max |change|", ".1f"),
)


def _args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument(
        "clf",
        type=lambda t: [Path(x) for x in t.split(",") if x],
        help="classifiers folder(s), comma-separated, each arch from the first that has its "
        ".keras (e.g. runs/clsA,runs/clsB), or one CAM .tflite",
    )
    p.add_argument("dmv", type=Path, help="the E-D: dmv.keras (or an exported E-D .tflite)")
    p.add_argument(
        "val",
        type=Path,
        nargs="?",
        help="validation images (searched recursively; an even spread of --max of them is "
        "measured), or nothing with --split-of",
    )
    p.add_argument(
        "--split-of",
        type=Path,
        metavar="RUN",
        help="a `jndtf train classifiers` run folder: measure its held-out validation split "
        "(rebuilt from the data, size and seed its classifiers.json records, checked against "
        "its val_indices_sha256), calibrate on its training images",
    )
    p.add_argument("-o", "--out", type=Path, default=Path("out/dmv_deploy"))
    p.add_argument("--judge", default="resnet", help="the deployed classifier (RCA, labels)")
    p.add_argument(
        "--cams",
        choices=("all", "judge"),
        default="all",
        help="CAMs merged by eq. (2): the four classifiers (as training) or the judge's alone",
    )
    p.add_argument("--dmv-spec", default="dmv", help="preset of a bare dmv.keras")
    p.add_argument("--max", type=int, default=300, help="validation images measured")
    p.add_argument("--num-calib", type=int, default=32, help="int8 calibration images")
    p.add_argument("--frames", type=int, default=4, help="640x360 frames (0: none)")
    p.add_argument("--quality", type=int, default=90, help="JPEG quality of both images")
    p.add_argument("--modes", default="eq14,smooth,quantize,perturb")
    p.add_argument(
        "--factors",
        default="0.25,0.5,1,2,4",
        help="multiples of e (a trained DMV-JND's e is large: PSNR ~10-15 dB at 1)",
    )
    p.add_argument("--min-rca", type=float, default=0.99)
    p.add_argument("--threads", type=int, default=2, help="LiteRT threads")
    p.add_argument("--force", action="store_true", help="export again even if OUT has them")
    return p.parse_args()


def _spread(n: int, k: int) -> np.ndarray:
    """`k` (at most `n`) indices spread evenly over ``0..n-1``."""
    return np.unique(np.linspace(0, n - 1, min(k, n)).round().astype(int))


def _split_images(a, log) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """(measured, calibration) images of the held-out split of the run `a.split_of`."""
    import json

    from jndtf.data.classification import stratified_split
    from jndtf.evaluate.dmv import check_split_matches_training
    from jndtf.train.classifiers.data import prepare_data

    path = a.split_of / "classifiers.json"
    if not path.is_file():
        raise SystemExit(f"error: --split-of {a.split_of}: no classifiers.json there")
    rec = json.loads(path.read_text()).get("data") or {}
    t0 = time.perf_counter()
    data = prepare_data(
        rec["path"], max_images=rec.get("max_images"), val_size=rec["val_size"],
        seed=rec["split_seed"],
    )  # fmt: skip
    check_split_matches_training(a.split_of, data.val_idx)
    val = data.val_idx
    if a.max < len(val):  # a stratified subset of the held-out images
        _, keep = stratified_split(data.labels[val], holdout=a.max, seed=1)
        val = val[keep]
    calib_idx = data.train_idx[_spread(len(data.train_idx), max(a.num_calib, 8))]
    log(
        f"{rec['path']}: held-out split rebuilt and checked ({len(data.val_idx)} images) in "
        f"{time.perf_counter() - t0:.0f} s; {len(val)} measured, {len(calib_idx)} training "
        "images for calibration"
    )
    return list(data.images[val]), list(data.images[calib_idx])


def _fresh(out: Path, sources) -> bool:
    """`out` exists and is newer than every source (an export of these very files)."""
    return out.is_file() and all(out.stat().st_mtime > Path(x).stat().st_mtime for x in sources)


def _load(files):
    from jndtf.io import load_image

    return [load_image(f) for f in files]


def _frames(n: int) -> list[np.ndarray]:
    """`n` 640x360 frames: the bundled photos, each cropped to 16:9 and resized (area)."""
    import cv2

    from jndtf.samples import SAMPLE_NAMES, sample_images

    photos = list(sample_images(SAMPLE_NAMES).values())
    w, h = FRAME_SIZE
    out = []
    for i in range(n):
        im = photos[i % len(photos)]
        ih, iw = im.shape[:2]
        ch = min(ih, iw * h // w)
        cw = ch * w // h
        shift = (i // len(photos)) * 16  # the same photo again: another crop
        y0 = min(ih - ch, shift)
        x0 = min(iw - cw, (iw - cw) // 2 + shift)
        crop = im[y0 : y0 + ch, x0 : x0 + cw]
        out.append(cv2.resize(crop, (w, h), interpolation=cv2.INTER_AREA))
    return out


def _keras_files(folders: list[Path], archs) -> list[Path]:
    """``ARCH.keras`` of each arch, from the first of `folders` that has it."""
    found, missing = [], []
    for arch in archs:
        hits = [f / f"{arch}.keras" for f in folders if (f / f"{arch}.keras").is_file()]
        (found if hits else missing).append(hits[0] if hits else arch)
    if missing:
        where = ", ".join(map(str, folders))
        raise SystemExit(
            f"error: no {', '.join(m + '.keras' for m in missing)} in {where} (--cams judge: "
            "the judge's alone)"
        )
    return found


def _export_classifiers(a, calib, log) -> tuple[Path, list[Path]]:
    """(judge, other CAM classifiers) as CAM .tflite files."""
    from jndtf.export.cam import export_cam_classifier

    if len(a.clf) == 1 and a.clf[0].suffix == ".tflite":
        return a.clf[0], []
    archs = [a.judge] + ([x for x in ARCHS if x != a.judge] if a.cams == "all" else [])
    sources = _keras_files(a.clf, archs)
    paths = []
    for src in sources:
        out = a.out / f"{src.stem}-cam-tflite-int8.tflite"
        if a.force or not _fresh(out, [src]):
            t0 = time.perf_counter()
            export_cam_classifier(src, out, int8=True, calib_images=calib, num_calibration=32)
            log(f"exported {out.name} in {time.perf_counter() - t0:.0f} s")
        else:
            log(f"reused {out}")
        paths.append(out)
    return paths[0], paths[1:]


def _export_ed(a, calib, log) -> Path:
    from jndtf.export import export_model

    from jndtf.manifest import read_source_manifest

    if a.dmv.suffix == ".tflite":
        return a.dmv
    out = a.out / "dmv-32x32-tflite-int8.tflite"
    if not a.force and _fresh(out, [a.dmv]):
        log(f"reused {out}")
        return out
    source = str(a.dmv)
    if a.dmv.suffix == ".keras" and not read_source_manifest(a.dmv).get("preset"):
        source = f"{a.dmv_spec}:{a.dmv}"
    t0 = time.perf_counter()
    # the four classifiers the E-D was trained with give its calibration's CAM channel
    # (else those the E-D's manifest names: export_model's default)
    classifiers = None
    if a.clf[0].suffix != ".tflite" and all(
        any((f / f"{x}.keras").is_file() for f in a.clf) for x in ARCHS
    ):
        classifiers = _keras_files(a.clf, ARCHS)
    (res,) = export_model(
        source,
        ["tflite-int8"],
        out_dir=a.out,
        input_size=(32, 32),
        calib_data=calib,
        num_calibration=a.num_calib,
        classifiers=classifiers,
        name="dmv-32x32",
    )
    parity = res.manifest.get("parity", {})
    log(
        f"exported {res.path.name} in {time.perf_counter() - t0:.0f} s; parity vs Keras: "
        f"e PSNR {parity.get('map_psnr_db', float('nan')):.1f} dB, max |err| "
        f"{parity.get('max_abs_err', float('nan')):.3g}"
    )
    return res.path


def _fmt(value, spec: str) -> str:
    if spec == "pct":
        return f"{100 * value:.2f}"
    return format(value, spec)


def main() -> None:
    a = _args()
    from jndtf.bench.dmv import SWEEP_COLUMNS, _image_files, best_at_rca, rca_bytes_sweep
    from jndtf.bench.report import write_csv
    from jndtf.io import atomic_write_bytes
    from jndtf.sysinfo import cpu_line

    t_start = time.perf_counter()

    def log(msg: str) -> None:
        print(f"[{time.perf_counter() - t_start:6.1f} s] {msg}", flush=True)

    a.out.mkdir(parents=True, exist_ok=True)
    if a.split_of is not None:
        measured, calib = _split_images(a, log)
    elif a.val is not None:
        files = _image_files(a.val, None)
        pick = _spread(len(files), a.max)  # class-per-folder: every class, not the first
        rest = [f for i, f in enumerate(files) if i not in set(pick.tolist())]
        measured = [files[i] for i in pick]
        pool = rest or measured  # calibration: not the measured images when there are others
        calib = _load([pool[i] for i in _spread(len(pool), max(a.num_calib, 8))])
        log(
            f"{len(files)} images in {a.val}: {len(measured)} measured, {len(calib)} for "
            f"calibration{'' if rest else ' (the same: no others)'}"
        )
    else:
        raise SystemExit("error: give VAL (a folder of images) or --split-of RUN")
    judge, cams = _export_classifiers(a, calib, log)
    ed = _export_ed(a, calib, log)
    modes = tuple(m.strip() for m in a.modes.split(",") if m.strip())
    factors = tuple(float(f) for f in a.factors.split(",") if f.strip())
    sets = [("val", measured, "frame")]
    if a.frames > 0:
        sets.append((f"frames {FRAME_SIZE[0]}x{FRAME_SIZE[1]}", _frames(a.frames), "tiles"))
    rows = []
    for name, images, layout in sets:
        t0 = time.perf_counter()
        imgs = _load(images) if images and isinstance(images[0], Path) else images
        got = rca_bytes_sweep(
            judge,
            ed,
            imgs,
            modes=modes,
            factors=factors,
            quality=a.quality,
            cam_classifiers=tuple(cams),
            layout=layout,
            num_threads=a.threads,
        )
        dt = time.perf_counter() - t0
        log(f"{name}: {len(imgs)} images x {len(got)} (mode, factor) in {dt:.1f} s")
        rows += [{"set": name, **r} for r in got]
    # the table
    print()
    print(" | ".join(h for _, h, _ in TABLE))
    print(" | ".join("---" for _ in TABLE))
    lines = []
    for r in rows:
        line = " | ".join(_fmt(r[k], f) for k, _, f in TABLE)
        lines.append(line)
        print(line)
    print()
    best_lines = []
    for name, _, _ in sets:
        best = best_at_rca([r for r in rows if r["set"] == name], a.min_rca)
        if best is None:
            text = f"{name}: no (mode, factor) keeps RCA >= {100 * a.min_rca:g} %"
        else:
            text = (
                f"{name}: best at RCA >= {100 * a.min_rca:g} %: {best['mode']} factor "
                f"{best['factor']:g}: JPEG bytes {best['bytes_change_pct']:+.2f} % at q{a.quality} "
                f"(RCA {100 * best['rca']:.2f} %, PSNR {best['psnr_db']:.2f} dB, "
                f"{best['images']} images)"
            )
        best_lines.append(text)
        print(text)
    cams_text = ", ".join(p.name for p in [judge, *cams])
    footer = (
        f"judge {judge.name}; CAMs {cams_text}; E-D {ed.name}; int8 LiteRT, {a.threads} "
        f"thread(s); {cpu_line()}; {time.perf_counter() - t_start:.0f} s in all"
    )
    print(footer)
    csv_path = write_csv(rows, a.out / "dmv_deploy.csv", columns=("set", *SWEEP_COLUMNS))
    md = ["| " + " | ".join(h for _, h, _ in TABLE) + " |", "|" + "---|" * len(TABLE)]
    md += [f"| {line} |" for line in lines]
    md += ["", *[f"- {b}" for b in best_lines], "", footer, ""]
    atomic_write_bytes(a.out / "dmv_deploy.md", "\n".join(md).encode())
    print(f"wrote {csv_path} and {a.out / 'dmv_deploy.md'}")


if __name__ == "__main__":
    main()
