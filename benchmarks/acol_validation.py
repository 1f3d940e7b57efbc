"""ACoL-JND's validation curve: each saved checkpoint of a run, scored on held-out photos.

`jndtf train acol` keeps one checkpoint (``RUN/checkpoints/last.npz``, rewritten every epoch).
Copy it aside while a run trains (e.g. ``cp`` it after every epoch), then give the copies here:
each becomes a ``.keras`` model (the run resumed from it to its own epoch, so nothing trains)
and all of them are scored together by `jndtf eval jnd` (eq. (7) injection at 26.06 dB) on a
folder of photos that no training step saw, beside the classical models and the uniform control.
The first model of the comparison is the last checkpoint, so the report's head-to-head table
counts the images where it wins.

    python benchmarks/acol_validation.py --data TRAIN_DIR --val VAL_DIR -o OUT SNAPSHOT.npz ...
        [--every 5] [--metrics nlpd,mad,vif,ms_ssim,ssimulacra2] [--cache-dir DIR]

Prints, per checkpoint epoch, the mean of each metric and the training loss of that epoch.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np


def checkpoint_meta(path: Path) -> dict:
    with np.load(path, allow_pickle=False) as z:
        return json.loads(str(z["meta"]))


def to_keras(snapshot: Path, data: Path, out: Path, cache_dir: Path | None) -> Path:
    """The model of `snapshot` as ``out/model.keras`` (train_acol resumed at its own epoch)."""
    from jndtf.train.acol import AcolTrainConfig, train_acol

    meta = checkpoint_meta(snapshot)
    if meta["step"] != 0:
        raise SystemExit(f"{snapshot}: saved mid-epoch (step {meta['step']}); give epoch ends")
    (out / "checkpoints").mkdir(parents=True, exist_ok=True)
    shutil.copyfile(snapshot, out / "checkpoints" / "last.npz")
    fields = {f.name for f in dataclasses.fields(AcolTrainConfig)}
    key = {k: v for k, v in meta["config_key"].items() if k in fields}
    cfg = AcolTrainConfig(
        **key,
        data_dir=data,
        output_dir=out,
        epochs=meta["epoch"],
        resume=True,
        cache_dir=cache_dir,
        tensorboard=False,
        term_log_every=0,
    )
    train_acol(cfg)
    return out / "model.keras"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("snapshots", nargs="+", type=Path, help="copies of checkpoints/last.npz")
    parser.add_argument("--data", type=Path, required=True, help="the run's training folder")
    parser.add_argument("--val", type=Path, required=True, help="held-out photos")
    parser.add_argument("-o", "--out", type=Path, required=True)
    parser.add_argument("--every", type=int, default=1, help="score every Nth epoch (+ the last)")
    parser.add_argument("--metrics", default="nlpd,mad,vif,ms_ssim,ssimulacra2")
    parser.add_argument("--baselines", default="wu2017,yang2005,uniform")
    parser.add_argument("--cache-dir", type=Path, default=None, help="the run's prior cache")
    args = parser.parse_args()

    from jndtf.evaluate import EvalSettings, evaluate_jnd

    by_epoch: dict[int, tuple[Path, dict]] = {}
    for snap in args.snapshots:
        meta = checkpoint_meta(snap)
        if meta["step"] == 0:
            by_epoch[meta["epoch"]] = (snap, meta)
    epochs = sorted(by_epoch)
    if not epochs:
        raise SystemExit("no epoch-end checkpoint among the snapshots")
    last = epochs[-1]
    chosen = [e for e in epochs if e % args.every == 0 or e == last]
    models = []
    for e in [last, *[e for e in chosen if e != last]]:
        path = to_keras(by_epoch[e][0], args.data, args.out / f"epoch{e:03d}", args.cache_dir)
        models.append(f"epoch{e:03d}=acol:{path}")
    settings = EvalSettings(
        out_dir=args.out / "eval",
        data=args.val,
        models=(*models, *[m for m in args.baselines.split(",") if m]),
        metrics=tuple(args.metrics.split(",")),
    )
    report = evaluate_jnd(settings)
    print(f"held-out photos: {args.val} ({len(report.images)}); report in {args.out / 'eval'}")
    head = ["epoch", "train total", *report.metrics]
    print(" | ".join(head))
    for e in sorted(chosen):
        hist = {h["epoch"]: h for h in by_epoch[e][1]["history"]}
        row = [str(e), f"{hist[e]['total']:.4f}"]
        row += [f"{report.average(f'epoch{e:03d}', m):.4f}" for m in report.metrics]
        print(" | ".join(row))
    for b in report.models[len(models) :]:  # the baselines, by their labels
        print(" | ".join([b, "-", *[f"{report.average(b, m):.4f}" for m in report.metrics]]))


if __name__ == "__main__":
    main()
