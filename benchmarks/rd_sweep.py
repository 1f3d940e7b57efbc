"""Reproduces the rate-quality figures of issue 13 (README "Rate-quality").

    # clips: x264 plain vs aq-mode 1/2/3 and pixel methods on synthetic noisy camera clips
    python benchmarks/rd_sweep.py clips -o out/rd/clips
    # merge per-image `jndtf eval rd` runs (one folder per image) into one report
    python benchmarks/rd_sweep.py merge out/rd/yang2005/* out/rd/anchors/* -o out/rd/yang2005-all
    # the mean BD-rates of a report as one table
    python benchmarks/rd_sweep.py summary out/rd/yang2005-all

Photos: `jndtf eval rd` on the LAST 8 of ../shared/data/train-photos (042..049, sorted), the
methods engineer tunes on the first ones; one run per image so a partial sweep is usable
(the command is in the report). Clips: :func:`jndtf.rd.inputs.noisy_clip` (scikit-image photo
through a still or panning virtual camera, Poisson-Gaussian sensor noise on linear light:
full well 1000 e-, read noise 3 e-, fresh every frame). Prints the CPU and its SIMD flags.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from jndtf.sysinfo import cpu_line as cpu


def clips(args) -> None:
    from jndtf.rd import run_rd
    from jndtf.rd.inputs import from_arrays, noisy_clip

    size = (args.width, args.height)
    items = []
    for kind in ("still", "pan"):
        noisy, clean = noisy_clip(
            kind, frames=args.frames, size=size, photo=args.photo, seed=1, with_clean=True
        )
        # quality vs the noisy original AND vs the noise-free frames (metric@clean)
        items.append(from_arrays(f"{kind}-noisy", noisy, fps=args.fps, clean=clean))
    res = run_rd(
        items,
        jnd_model=args.jnd,
        methods=args.methods.split(","),
        strengths=[float(s) for s in args.strength.split(",")],
        metrics=args.metrics.split(","),
        out_dir=args.out,
        crfs=[int(c) for c in args.crf.split(",")],
        preset=args.preset,
        x264_anchors=[a for a in args.anchors.split(",") if a],
        bd_windows={"ssimulacra2": (60.0, 90.0)} if "ssimulacra2" in args.metrics else None,
        quality_every=args.every,
        command="python " + " ".join(sys.argv),
        progress=lambda d, a, b: print(f"[{a}/{b}] {d}", file=sys.stderr, flush=True),
    )
    print(f"CPU: {cpu()}; {res.settings['seconds']} s")
    print((Path(args.out) / "report.md").read_text())


def merge(args) -> None:
    from jndtf.rd.protocol import report_from_points

    runs = [r for r in args.runs if (Path(r) / "points.csv").is_file()]
    from jndtf.cli.rd import parse_windows

    windows = parse_windows(args.window) if args.window is not None else None
    res = report_from_points(runs, args.out, plots=not args.no_plots, bd_windows=windows)
    print(f"merged {len(runs)} runs -> {args.out}")
    print((Path(args.out) / "report.md").read_text())
    del res


def summary(args) -> None:
    """A compact table of the mean BD-rates of a report: one row per curve and reference,
    one column per metric (the interpolation asked for), with how many inputs save."""
    import csv

    with open(Path(args.run) / "bdrate.csv", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["interpolation"] == args.interpolation]
    metrics = list(dict.fromkeys(r["metric"] for r in rows))
    means = [r for r in rows if r["input"] == "mean"]
    pairs = list(dict.fromkeys((r["curve"], r["reference"]) for r in means))
    print(f"| curve | vs | {' | '.join(f'BD-rate @ {m}' for m in metrics)} |")
    print("|---|---|" + "---|" * len(metrics))
    for curve, ref in pairs:
        cells = []
        for m in metrics:
            r = next(
                x for x in means if (x["curve"], x["reference"], x["metric"]) == (curve, ref, m)
            )
            n_all = r["note"].split()[2]
            saves = r["note"].split("; ")[1].split()[0]
            value = f"{float(r['bd_rate_percent']):+.1f} %" if r["bd_rate_percent"] else "n/a"
            cells.append(f"{value} ({saves}/{n_all} save)")
        print(f"| {curve} | {ref} | {' | '.join(cells)} |")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("clips", help="x264 sweep on synthetic noisy still and panning clips")
    c.add_argument("-o", "--out", default="out/rd/clips")
    c.add_argument("--jnd", default="yang2005")
    c.add_argument("--methods", default="eq14,smooth")
    c.add_argument("--strength", default="0.25,0.5,1")
    c.add_argument("--metrics", default="ssimulacra2,psnr")
    c.add_argument("--crf", default="18,23,28,33,38")
    c.add_argument("--preset", default="medium")
    c.add_argument("--anchors", default="x264-aq1,x264-aq2,x264-aq3")
    c.add_argument("--frames", type=int, default=16)
    c.add_argument("--width", type=int, default=480)
    c.add_argument("--height", type=int, default=270)
    c.add_argument("--fps", type=float, default=25.0)
    c.add_argument("--photo", default="motorcycle_left")
    c.add_argument("--every", type=int, default=4, help="score every n-th frame")
    c.set_defaults(fn=clips)
    m = sub.add_parser("merge", help="merge per-image eval rd runs into one report")
    m.add_argument("runs", nargs="+")
    m.add_argument("-o", "--out", required=True)
    m.add_argument("--no-plots", action="store_true")
    m.add_argument("--window", default=None, help="METRIC=LO:HI BD-rate windows (as eval rd)")
    m.set_defaults(fn=merge)
    t = sub.add_parser("summary", help="mean BD-rates of a report as one Markdown table")
    t.add_argument("run")
    t.add_argument("--interpolation", default="cubic", help="cubic, pchip, 'cubic 60-90', ...")
    t.set_defaults(fn=summary)
    args = p.parse_args()
    args.fn(args)


if __name__ == "__main__":
    main()
