"""Probe: x264 per-region QP offsets from a JND map (jndtf.apply.methods.x264roi) on synthetic
noisy camera clips (jndtf.rd.inputs.noisy_clip, 320x192, 12 frames), BD-rate at equal
SSIMULACRA2 (every 3rd frame scored against the noisy original) vs x264 without AQ
(aq-mode=1:aq-strength=0:psy=0, which only opens the ROI path) and vs x264 aq-mode=3.

    OMP_NUM_THREADS=1 nice -n 10 python benchmarks/x264_roi_rd.py yang2005
"""

import sys
import warnings

import numpy as np

from jndtf.apply.methods.x264roi import X264_ROI_PLAIN, encode_h264_roi
from jndtf.codecs.quality import ssimulacra2
from jndtf.jobs import compute_jnd
from jndtf.rd.inputs import noisy_clip

warnings.filterwarnings("ignore")  # bjontegaard's overlap warning: the table says n/a instead


def bd(a, t) -> str:
    import bjontegaard

    try:
        v = bjontegaard.bd_rate(
            [p[0] for p in a], [p[1] for p in a], [p[0] for p in t], [p[1] for p in t],
            method="pchip", require_matching_points=False, min_overlap=0,
        )  # fmt: skip
        return f"{v:+.1f} %"
    except Exception as err:  # no overlap: say so, never a number
        return f"n/a ({err})"


def main() -> int:
    model = sys.argv[1] if len(sys.argv) > 1 else "yang2005"
    curves_def = (
        ("plain", 0, X264_ROI_PLAIN),
        ("roi0.5", 0.5, X264_ROI_PLAIN),
        ("aq3", 0, "aq-mode=3"),
        ("aq3+roi0.5", 0.5, "aq-mode=3"),
        ("aq3+roi0.25", 0.25, "aq-mode=3"),
    )
    for kind in ("still", "pan"):
        frames = noisy_clip(kind, frames=12, size=(320, 192))
        jnds = [compute_jnd(f, model) for f in frames]
        curves = {}
        for label, s, params in curves_def:
            pts = []
            for crf in (20, 24, 28, 32, 36):
                data, dec = encode_h264_roi(frames, jnds, crf, strength=s, x264_params=params)
                q = np.mean([ssimulacra2(frames[i], dec[i]) for i in range(0, 12, 3)])
                pts.append((8 * len(data) / 12 * 30 / 1000, q))
            curves[label] = pts
        for label, pts in curves.items():
            print(
                f"{model} {kind} {label:<12} vs plain {bd(curves['plain'], pts)}  "
                f"vs aq3 {bd(curves['aq3'], pts)}  kbit/s/SSIMULACRA2: "
                + " ".join(f"{r:.0f}/{q:.1f}" for r, q in pts),
                flush=True,
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
