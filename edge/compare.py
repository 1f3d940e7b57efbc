"""Bytes and quality side by side: what `jndtf stream`, `jndtf demo` and `jndtf bench stream` say
about the pre-processed stream against the same encoder on the untouched frames (issue 13.4).

Fewer bytes at the same encoder setting is not a saving when the picture got worse: eq. (14) at
full JND strength drops PSNR by several dB, and the plain encoder at a lower setting reaches the
same bytes with less loss. So every byte figure is printed with the quality change beside it
(PSNR and MS-SSIM of both streams against the original frames), with a warning when the
pre-processed stream is larger or worse, and, when the stream kept a sample of frames, with the
comparison that settles it: the plain encoder's bytes at the pre-processed stream's quality.

Equal quality (:class:`EqualQualityProbe`): the stream keeps a sample of frames (original and
pre-processed: JPEG, up to :data:`JPEG_SAMPLE` frames spread over the stream by reservoir
sampling; H.264, the first :data:`H264_SAMPLE` frames, since inter coding needs consecutive
frames). At the end it codes the original frames at a ladder of encoder settings (JPEG qualities
:data:`JPEG_LADDER` plus the stream's; H.264 CRFs from ``crf - 6`` to ``crf + 18`` in steps of
3) and the pre-processed frames at the stream's setting, measures the mean per-frame PSNR of
each against the original, and interpolates the plain encoder's bytes at the pre-processed
PSNR (``log(bytes)`` linear in PSNR between the two neighbouring settings; outside the ladder:
no number, and the summary says so). PSNR only: it is exact and cheap on the edge; a perceptual
comparison (SSIMULACRA2, BD-rate over a sweep) is ``jndtf eval rd``'s job.

"Worse" means a PSNR drop of at least :data:`PSNR_WORSE_DB` or an MS-SSIM drop of at least
:data:`MS_SSIM_WORSE`.

Example:
    >>> comparison = compare(report.to_dict())
    >>> print("\\n".join(comparison["lines"]))
    eq. (14) + JPEG q90: 16.8 % fewer bytes than plain JPEG q90 (1,000,000 -> 832,000) BUT ...
"""

from __future__ import annotations

import itertools
import math
import random

import numpy as np

from jndtf.metrics import psnr

#: A PSNR drop (dB) from which the pre-processed stream counts as worse: 0.1 dB is a 2.3 %
#: larger MSE, more than rounding in the encoder moves it between runs of the same frames.
PSNR_WORSE_DB = 0.1

#: An MS-SSIM drop from which the pre-processed stream counts as worse (MS-SSIM of good
#: JPEG/H.264 frames sits at 0.98-0.999; 5e-4 is a tenth of the gap between q90 and q95).
MS_SSIM_WORSE = 5e-4

#: A byte change below this fraction is "the same bytes" (a stream that pre-processing left
#: unchanged would otherwise print "-0.0 % ... fewer bytes").
SAME_BYTES = 5e-4

#: JPEG frames kept for the equal-quality comparison (spread over the stream).
JPEG_SAMPLE = 24

#: H.264 frames kept for it (the first ones: inter coding needs consecutive frames).
H264_SAMPLE = 30

#: JPEG qualities the untouched sample frames are coded at (plus the stream's own).
JPEG_LADDER = (5, 10, 15, 20, 25, 30, 40, 50, 60, 70, 75, 80, 85, 90, 95, 98, 100)

#: The command that compares at equal perceptual quality over a sweep.
RD_HINT = "use `jndtf eval rd` to compare at equal quality"


def codec_label(codec: dict) -> str:
    """``{"codec": "jpeg", "quality": 90}`` -> ``"JPEG q90"``; H.264 -> ``"H.264 CRF 23"``."""
    if codec.get("codec") == "jpeg":
        return f"JPEG q{codec.get('quality')}"
    if codec.get("codec") == "h264":
        return f"H.264 CRF {codec.get('crf'):g} ({codec.get('preset')})"
    return str(codec.get("codec", "?"))


class EqualQualityProbe:
    """Keeps a sample of (original, pre-processed) frames and, at the end, measures the plain
    encoder's bytes at the pre-processed frames' PSNR (module docstring).

    Args:
        codec: ``"jpeg"`` or ``"h264"``.
        settings: the stream's encoder settings (``quality``; ``crf``, ``preset``, ``tune``,
            ``fps``, ``size``).
        seed: the reservoir sampling's seed (JPEG).
    """

    def __init__(self, codec: str, settings: dict, seed: int = 0) -> None:
        self.codec = codec
        self.settings = dict(settings)
        self.limit = JPEG_SAMPLE if codec == "jpeg" else H264_SAMPLE
        self.frames: list[tuple[int, np.ndarray, np.ndarray]] = []
        self.seen = 0
        self._rng = random.Random(seed)

    def add(self, k: int, original: np.ndarray, processed: np.ndarray) -> None:
        """Offers frame `k` (copies are kept only when it enters the sample)."""
        self.seen += 1
        if len(self.frames) < self.limit:
            self.frames.append((k, original.copy(), processed.copy()))
        elif self.codec == "jpeg":
            j = self._rng.randrange(self.seen)
            if j < self.limit:
                self.frames[j] = (k, original.copy(), processed.copy())

    def _code(self, frames: list[np.ndarray], setting) -> tuple[int, float]:
        """(total bytes, mean per-frame PSNR vs the sample's originals) at one setting."""
        from jndtf.edge.encoders import DEFAULT_PRESET, make_encoder

        originals = [o for _, o, _ in self.frames]
        if self.codec == "jpeg":
            enc = make_encoder("jpeg", quality=int(setting))
        else:
            s = self.settings
            enc = make_encoder(
                "h264",
                crf=float(setting),
                preset=s.get("preset", DEFAULT_PRESET),
                tune=s.get("tune"),
                fps=float(s.get("fps", 30.0)),
                size=tuple(s["size"]),
            )
        coded = []
        for i, f in enumerate(frames):
            coded += enc.encode(f, i)
        coded += enc.close()
        nbytes = sum(c.nbytes for c in coded)
        scores = [psnr(originals[c.index], c.decoded) for c in coded]
        finite = [v for v in scores if math.isfinite(v)]
        return nbytes, (float(np.mean(finite)) if finite else math.inf)

    def ladder(self) -> list[float]:
        """The plain encoder's settings, lowest quality first."""
        if self.codec == "jpeg":
            q = int(self.settings["quality"])
            return sorted(set(JPEG_LADDER) | {q})
        crf = float(self.settings["crf"])
        steps = [crf + d for d in range(18, -7, -3)]
        return [c for c in steps if 0 <= c <= 51]

    def result(self) -> dict | None:
        """The comparison on the sample (None with no frame kept)."""
        if not self.frames:
            return None
        setting = self.settings["quality"] if self.codec == "jpeg" else self.settings["crf"]
        if self.codec == "h264":
            self.frames.sort(key=lambda t: t[0])
        proc_bytes, proc_psnr = self._code([p for _, _, p in self.frames], setting)
        curve = []
        for s in self.ladder():
            nbytes, q = self._code([o for _, o, _ in self.frames], s)
            curve.append({"setting": s, "bytes": nbytes, "psnr": q})
        plain_same = next(c for c in curve if c["setting"] == setting)
        out = {
            "metric": "psnr",
            "frames": len(self.frames),
            "sample": "spread over the stream" if self.codec == "jpeg" else "the first frames",
            "setting_name": "quality" if self.codec == "jpeg" else "crf",
            "processed_bytes": proc_bytes,
            "processed_psnr": proc_psnr,
            "plain_bytes_same_setting": plain_same["bytes"],
            "plain_psnr_same_setting": plain_same["psnr"],
            "curve": curve,
            "plain_bytes_at_equal_quality": None,
            "plain_setting_at_equal_quality": None,
            "change_at_equal_quality": None,
        }
        at = _interpolate(curve, proc_psnr)
        if at is not None:
            nbytes, where = at
            out["plain_bytes_at_equal_quality"] = nbytes
            out["plain_setting_at_equal_quality"] = where
            out["change_at_equal_quality"] = proc_bytes / nbytes - 1.0
        return out


def _interpolate(curve: list[dict], target: float) -> tuple[float, float] | None:
    """Plain bytes (log-linear in PSNR) and setting at PSNR `target`; None outside the curve."""
    pts = sorted(
        (c["psnr"], math.log(c["bytes"]), c["setting"])
        for c in curve
        if math.isfinite(c["psnr"]) and c["bytes"] > 0
    )
    if not pts or not math.isfinite(target) or not pts[0][0] <= target <= pts[-1][0]:
        return None
    for (q0, b0, s0), (q1, b1, s1) in itertools.pairwise(pts):
        if q0 <= target <= q1:
            t = 0.0 if q1 == q0 else (target - q0) / (q1 - q0)
            return math.exp(b0 + t * (b1 - b0)), s0 + t * (s1 - s0)
    return math.exp(pts[-1][1]), pts[-1][2]  # a single point equal to the target


def _num(v, fmt: str) -> str:
    return "n/a" if v is None or (isinstance(v, float) and not math.isfinite(v)) else f"{v:{fmt}}"


def compare(report: dict, method: str = "eq. (14)") -> dict:
    """The honest comparison of a stream report (``StreamReport.to_dict()``).

    Returns:
        ``{"bytes_change", "psnr_change_db", "ms_ssim_change", "larger", "worse",
        "saving_at_equal_quality" (True/False/None: unknown), "verdict", "lines"}``; ``lines``
        are what a person reads (the first line carries bytes and quality together; a line
        starting with ``WARNING`` follows when the stream is larger or worse).
    """
    label = codec_label(report.get("codec") or {})
    bp, bo = report.get("bytes_processed", 0), report.get("bytes_original", 0)
    out: dict = {
        "method": method,
        "codec": label,
        "bytes_change": None,
        "psnr_change_db": None,
        "ms_ssim_change": None,
        "larger": None,
        "worse": None,
        "saving_at_equal_quality": None,
        "verdict": "no comparison encode (--no-compare)",
        "lines": [],
    }
    if not bo:
        out["lines"] = [f"{method} + {label}: {bp:,} bytes (no comparison encode: --no-compare)"]
        return out
    change = bp / bo - 1.0
    pp, po = report.get("psnr_processed"), report.get("psnr_original")
    mp, mo = report.get("ms_ssim_processed"), report.get("ms_ssim_original")
    finite = lambda v: v is not None and math.isfinite(v)  # noqa: E731
    dpsnr = pp - po if finite(pp) and finite(po) else None
    dms = mp - mo if finite(mp) and finite(mo) else None
    worse = (dpsnr is not None and dpsnr <= -PSNR_WORSE_DB) or (
        dms is not None and dms <= -MS_SSIM_WORSE
    )
    same = abs(change) < SAME_BYTES
    larger = change > 0 and not same
    out.update(
        bytes_change=change, psnr_change_db=dpsnr, ms_ssim_change=dms, larger=larger, worse=worse
    )
    amount = (
        f"the same bytes (within {100 * SAME_BYTES:.2f} %)"
        if same
        else f"{100 * abs(change):.1f} % {'more' if larger else 'fewer'} bytes"
    )
    ms = (
        f"MS-SSIM {_num(mo, '.4f')} -> {_num(mp, '.4f')}"
        if dms is not None
        else "MS-SSIM not measured (frames under 176 px, or --ms-ssim-every 0)"
    )
    quality = (
        f"PSNR {_num(po, '.2f')} -> {_num(pp, '.2f')} dB, {ms} (plain -> pre-processed, "
        "both against the original frames)"
    )
    than = "as" if same else "than"
    head = f"{method} + {label}: {amount} {than} plain {label} ({bo:,} -> {bp:,})"
    eq = report.get("equal_quality")
    lines = []
    if larger and worse:
        lines.append(f"{head}; {quality}")
        lines.append(
            f"WARNING: the pre-processed stream is LARGER and WORSE than plain {label}: "
            f"{method} costs bytes and quality here"
        )
        out["verdict"] = "larger and worse"
    elif larger:
        lines.append(f"{head}; {quality}")
        lines.append(f"WARNING: the pre-processed stream is LARGER than plain {label}")
        out["verdict"] = "larger"
    elif worse:
        lines.append(f"{head} BUT quality dropped: {quality}")
        lines.append(
            f"WARNING: not a saving at equal quality: the same encoder at a lower setting also "
            f"gives fewer bytes and lower quality; {RD_HINT}"
        )
        out["verdict"] = "fewer bytes at lower quality"
    elif same:
        lines.append(f"{head} at the same quality: {quality}")
        out["verdict"] = "the same bytes at the same quality"
    else:
        lines.append(f"{head} at the same quality: {quality}")
        out["verdict"] = "fewer bytes at the same quality"
    if eq:
        lines.append(_equal_quality_line(eq, label, method))
        c = eq.get("change_at_equal_quality")
        out["saving_at_equal_quality"] = None if c is None else bool(c < 0)
        if c is not None and c >= 0 and not (larger or worse):
            lines.append(f"WARNING: at equal PSNR {method} costs bytes; {RD_HINT}")
    out["lines"] = lines
    return out


def _equal_quality_line(eq: dict, label: str, method: str) -> str:
    n, name = eq["frames"], eq["setting_name"]
    where = f"on {n} frames ({eq['sample']})"
    pq = eq["processed_psnr"]
    if eq.get("change_at_equal_quality") is None:
        lo = min(c["psnr"] for c in eq["curve"])
        hi = max(c["psnr"] for c in eq["curve"])
        return (
            f"at equal PSNR {where}: not measured, the pre-processed frames' {pq:.2f} dB lies "
            f"outside what plain coding reached over its {name} ladder ({lo:.2f}..{hi:.2f} dB)"
        )
    c = eq["change_at_equal_quality"]
    verdict = "a saving at equal PSNR" if c < 0 else "NOT a saving: it costs bytes at equal PSNR"
    return (
        f"at equal PSNR {where}: {method} + {label} {eq['processed_bytes']:,} bytes at "
        f"{pq:.2f} dB; plain coding reaches {pq:.2f} dB with "
        f"{eq['plain_bytes_at_equal_quality']:,.0f} bytes ({name} ~ "
        f"{eq['plain_setting_at_equal_quality']:.1f}): {100 * c:+.1f} % bytes, {verdict}"
    )


__all__ = [
    "H264_SAMPLE",
    "JPEG_LADDER",
    "JPEG_SAMPLE",
    "MS_SSIM_WORSE",
    "PSNR_WORSE_DB",
    "RD_HINT",
    "SAME_BYTES",
    "EqualQualityProbe",
    "codec_label",
    "compare",
]
