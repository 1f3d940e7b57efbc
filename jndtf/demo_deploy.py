"""The deployment half of the main job (README command 1): export, then the edge runtime.

After :mod:`jndtf.demo` has computed every model's map on the sample photos, this part takes the
shipped ACoL-JND weights the rest of the way a user takes them:

1. ``jndtf export acol --int8 --size 320x180``: full-integer int8 TFLite (output head and §3.4
   threshold inputs kept in float, :mod:`jndtf.export.quantization`), calibrated on the sample
   photos, with the parity report against Keras on a held-back photo.
2. The synthesized camera clip (:func:`jndtf.samples.synthesize_clip`, 640x360, scene cuts).
3. ``jndtf stream clip.mp4 --model acol-tflite-int8.tflite --codec jpeg``: the TensorFlow-free
   runtime (:mod:`jndtf.edge`) maps every frame (the map recomputed every 2 frames or at a cut),
   pre-processes it by the stream's default JPEG method (``jndtf stream --help``) and JPEG-encodes
   it, beside the same encoder on the
   unprocessed frame: the byte change always beside the PSNR / MS-SSIM of both against the
   original, a warning when the pre-processed stream is larger or worse, and the plain
   encoder's bytes at the pre-processed stream's PSNR on a sample of frames
   (:func:`jndtf.edge.compare.compare`): a byte change at lower quality is not a saving.

Needs the ``[train]`` extra (export) and the ``[edge]`` extra (LiteRT); :func:`missing_extras`
says which is absent so the demo can skip this part with a note instead of failing.

Example:
    >>> summary = run_deploy(Path("out/demo/deploy"))
    >>> summary.markdown()
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from jndtf.io import atomic_write_bytes
from jndtf.refs import DEFAULT_JND_MODEL

Progress = Callable[[str, int, int], None]

#: The fixed size of the exported model: the 640x360 clip at half resolution (fixed-shape int8
#: is the fastest LiteRT model; DESIGN.md).
EXPORT_SIZE = (320, 180)  # (width, height), export_model's order
CLIP_SECONDS = 3.0


@dataclass(frozen=True)
class DeploySummary:
    """What the deployment half measured (``markdown()`` is appended to the demo's summary)."""

    model_path: Path
    model_bytes: int
    map_psnr_db: float | None
    injected_ms_ssim_delta: float | None
    stream: dict

    def markdown(self) -> str:
        s = self.stream
        lines = [
            "### Deployment: int8 export -> edge runtime on the synthesized clip",
            "",
            f"- exported `{self.model_path.name}` ({self.model_bytes / 1e3:.0f} kB, input "
            f"{EXPORT_SIZE[0]}x{EXPORT_SIZE[1]}); JND map vs Keras on a held-back photo: "
            + (f"{self.map_psnr_db:.1f} dB PSNR" if self.map_psnr_db is not None else "not run")
            + (
                f", MS-SSIM of the eq. (7) image changes by {self.injected_ms_ssim_delta:+.5f}"
                if self.injected_ms_ssim_delta is not None
                else ""
            ),
            f"- stream: {s['frames']} frames at {s['fps']:.1f} fps; maps computed "
            f"{s['maps_computed']}, reused {s['maps_reused']}",
        ]
        for line in s.get("comparison", {}).get("lines", []):
            lines.append(f"- **{line}**" if line.startswith("WARNING") else f"- {line}")
        return "\n".join(lines)


def missing_extras() -> list[str]:
    """The extras the deployment half needs and this environment lacks (``[]``: it can run)."""
    missing = []
    if importlib.util.find_spec("tensorflow") is None:
        missing.append("train")
    no_litert = (
        importlib.util.find_spec("ai_edge_litert") is None
        and importlib.util.find_spec("tflite_runtime") is None
    )
    if no_litert or importlib.util.find_spec("jpeglib") is None:  # the stream's JPEG default
        missing.append("edge")
    return missing


def run_deploy(out_dir: Path, progress: Progress | None = None, *, seed: int = 0) -> DeploySummary:
    """Exports the shipped ACoL-JND to int8 and streams the synthesized clip through the edge
    runtime; writes ``OUT/export/``, ``OUT/clip.mp4``, ``OUT/stream/`` and ``OUT/deploy.json``.

    Raises:
        ImportError: a missing extra (the message names the pip command).
    """
    from jndtf.edge.stream import StreamSettings, run_stream
    from jndtf.export import export_model
    from jndtf.samples import synthesize_clip

    missing = missing_extras()
    if missing:
        extras = ",".join(missing)
        raise ImportError(f'the deployment demo needs pip install "jndtf[{extras}]"')
    report = progress or (lambda *_: None)
    out_dir = Path(out_dir)
    report(f"deploy: int8 export of {DEFAULT_JND_MODEL} (calibration + parity)", 0, 3)
    (result,) = export_model(
        DEFAULT_JND_MODEL,
        ["tflite-int8"],
        out_dir=out_dir / "export",
        input_size=EXPORT_SIZE,
        seed=seed,
    )
    report("deploy: synthesized camera clip", 1, 3)
    clip = synthesize_clip(out_dir / "clip.mp4", seconds=CLIP_SECONDS)
    report("deploy: edge stream (the default JPEG method + JPEG)", 2, 3)
    stream = run_stream(
        StreamSettings(
            source=str(clip.path),
            model=str(result.path),
            codec="jpeg",
            source_mode="file",
            out_dir=out_dir / "stream",
            stats_path=out_dir / "stream" / "stats.jsonl",
        )
    ).to_dict()
    report("deploy: done", 3, 3)
    parity = result.parity
    summary = DeploySummary(
        model_path=result.path,
        model_bytes=result.size_bytes,
        map_psnr_db=None if parity is None else float(parity.map_psnr_db),
        injected_ms_ssim_delta=(
            None if parity is None or parity.ms_ssim_delta is None else float(parity.ms_ssim_delta)
        ),
        stream=stream,
    )
    record = {
        "export": {"path": str(result.path), "bytes": result.size_bytes, **result.manifest},
        "stream": stream,
    }
    atomic_write_bytes(out_dir / "deploy.json", json.dumps(record, indent=2, default=str).encode())
    return summary


__all__ = ["EXPORT_SIZE", "DeploySummary", "missing_extras", "run_deploy"]
