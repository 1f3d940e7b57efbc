"""`jndtf compress`: a JND-guided method + a real encoder, reported at EQUAL quality."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from jndtf.cli._settings import option, settings_command
from jndtf.cli._shared import app, err, stdout, user_errors
from jndtf.cli.rd import encoder_option, jnd_model_option, parse_strength, preset_option

VIDEO_OUT = (".mp4",)


@dataclass(frozen=True)
class CompressSettings:
    """`jndtf compress SOURCE -o OUT`: each default and help written once, here (``--jnd``,
    ``--encoder`` and ``--preset`` are `jndtf eval rd`'s, :mod:`jndtf.cli.rd`). Exactly one
    of `quality`, `crf`, `target`."""

    source: Path = option(
        argument=True, show_default=False, help="An image, or a video file (with --crf)."
    )
    out: Path = option("--out", "-o", help="Output file: .jpg for an image, .mp4 for a clip.")
    jnd: str = jnd_model_option()
    method: str | None = option(
        "--method",
        default=None,
        help="Method (jndtf.apply.methods); default: dct for images, none for clips.",
    )
    strength: float | str = option(
        "--strength",
        default=0.5,
        cli_type=str,
        parse=parse_strength,
        show=str,
        help="Map multiplier s, or 'auto': the s `jndtf calibrate --record` recorded for --jnd.",
    )
    encoder: str = encoder_option("JPEG encoder: libjpeg-turbo or jpegli.")
    quality: int | None = option(
        "--quality", default=None, show_default=False, help="JPEG quality 1..100."
    )
    crf: float | None = option(
        "--crf", default=None, show_default=False, help="Clips: x264 CRF 0..51."
    )
    preset: str = preset_option()
    target: float | None = option(
        "--ssimulacra2",
        default=None,
        show_default=False,
        help="Images: the smallest file whose SSIMULACRA2 vs the original is >= this.",
    )


@settings_command(app, "compress", CompressSettings)
def compress(settings: CompressSettings) -> None:
    """Compress an image (or clip) with a JND-guided method and print its bytes and quality
    next to what the plain encoder needs for the SAME quality (SSIMULACRA2 vs the original)."""
    from jndtf.io import ImageError
    from jndtf.rd.inputs import VIDEO_SUFFIXES

    source, out, jnd, method = settings.source, settings.out, settings.jnd, settings.method
    strength, encoder, quality = settings.strength, settings.encoder, settings.quality
    crf, preset, target = settings.crf, settings.preset, settings.target

    with user_errors():
        from jndtf.apply.methods import DEFAULT_CLIP_METHOD, DEFAULT_METHOD

        options = {"--quality": quality, "--crf": crf, "--ssimulacra2": target}
        given = [name for name, value in options.items() if value is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of --quality, --crf or --ssimulacra2")
        if not source.exists():
            raise ImageError(f"{source}: no such file")
        is_clip = source.suffix.lower() in VIDEO_SUFFIXES
        # The image default works inside JPEG; a clip gets the clip default (a pixel method).
        method = method or (DEFAULT_CLIP_METHOD if is_clip else DEFAULT_METHOD)
        if is_clip:
            if crf is None:
                raise ValueError(
                    f"{source} is a clip: give --crf (--quality/--ssimulacra2 are for images)"
                )
            if out.suffix.lower() not in VIDEO_OUT:
                raise ValueError(f"--out {out}: a clip is written as .mp4")
        else:
            if crf is not None:
                raise ValueError(
                    f"{source} is an image: give --quality or --ssimulacra2, not --crf"
                )
            if out.suffix.lower() not in (".jpg", ".jpeg"):
                raise ValueError(f"--out {out}: an image is written as .jpg")
        if method == "none":
            strength = 0.0  # the plain encoder: no map, no strength (not even 'auto')
        else:
            from jndtf.apply.calibrate import resolve_strength

            strength = resolve_strength(jnd, strength)  # a number, or 'auto': the recorded s
    if is_clip:
        _clip(source, out, jnd, method, strength, crf, preset)
        return
    with user_errors():
        from jndtf.codecs.image import check_encoder
        from jndtf.io import atomic_write_bytes, load_image
        from jndtf.jobs import compute_jnd
        from jndtf.rd.compress import compress_image

        check_encoder(encoder)
        image = load_image(source)
        with err.status("JND map and encodes (SSIMULACRA2 bisection)..."):
            jmap = compute_jnd(image, jnd) if method != "none" else None
            res = compress_image(
                image,
                jnd=jmap,
                method=method,
                strength=strength,
                encoder=encoder,
                quality=quality,
                target=target,
            )
        atomic_write_bytes(out, res.chosen.data)
    c, same, eq = res.chosen, res.plain_same_setting, res.plain_equal_quality
    h, w = image.shape[:2]
    stdout.print(
        f"{out}: {c.nbytes} bytes ({8 * c.nbytes / (h * w):.3f} bpp), {method} s={strength:g}"
        f"{' (calibrated, --strength auto)' if settings.strength == 'auto' else ''} + {encoder} "
        f"q{c.quality}: SSIMULACRA2 {c.ssimulacra2:.2f}, PSNR {c.psnr:.2f} dB",
        highlight=False,
    )
    stdout.print(
        f"plain {encoder} at the same q{same.quality}: {same.nbytes} bytes, SSIMULACRA2 "
        f"{same.ssimulacra2:.2f}, PSNR {same.psnr:.2f} dB",
        highlight=False,
    )
    if eq is None:
        stdout.print("no plain JPEG reaches that SSIMULACRA2 (even q100)", highlight=False)
    else:
        saving = res.saving_percent
        if c.nbytes == eq.nbytes:
            verdict = "the same bytes as plain"
        elif saving > 0:
            verdict = f"saves {saving:.1f} %"
        else:
            verdict = f"needs {-saving:.1f} % MORE bytes"
        stdout.print(
            f"plain {encoder} at equal quality (q{eq.quality}, SSIMULACRA2 "
            f"{eq.ssimulacra2:.2f} >= {c.ssimulacra2:.2f}): {eq.nbytes} bytes -> {method} "
            f"{verdict} at equal SSIMULACRA2",
            highlight=False,
        )


def _clip(source, out, jnd, method, strength, crf, preset) -> None:
    from jndtf.cli._shared import progress_bar

    with user_errors():
        from jndtf.apply.methods import get_method
        from jndtf.codecs.quality import psnr
        from jndtf.edge.encoders import H264Encoder
        from jndtf.jobs import compute_jnd
        from jndtf.rd.inputs import read_clip

        m = get_method(method)
        if m.kind != "pixel":
            raise ValueError(f"method {method!r} works inside JPEG; clips need a pixel method")
        frames, fps = read_clip(source)
        h, w = frames[0].shape[:2]
        if h % 2 or w % 2:
            raise ValueError(f"{source}: {w}x{h} frames; H.264 needs even sides")
        sizes = {"plain": 0, method: 0}
        scores = {"plain": [], method: []}
        with progress_bar() as bar:
            task = bar.add_task("compress", total=2 * len(frames))
            for label, path in ((method, out), ("plain", None)):
                with H264Encoder(
                    path, fps=fps, size=(w, h), crf=crf, preset=preset, tune=None, threads=1
                ) as enc:
                    coded = []
                    for i, f in enumerate(frames):
                        if label != "plain" and method != "none":
                            f = m.apply(f, compute_jnd(f, jnd), strength)
                        coded += enc.encode(f, i)
                        bar.advance(task)
                    coded += enc.close()
                for c in coded:
                    sizes[label] += c.nbytes
                    scores[label].append(psnr(frames[c.index], c.decoded))
    kbps = {k: 8 * v * fps / len(frames) / 1000 for k, v in sizes.items()}
    q = {k: sum(v) / len(v) for k, v in scores.items()}
    stdout.print(
        f"{out}: {method} s={strength:g} + x264 crf {crf:g} {preset}: {kbps[method]:.0f} kbit/s, "
        f"PSNR {q[method]:.2f} dB vs the original; plain x264 at the same CRF: "
        f"{kbps['plain']:.0f} kbit/s, PSNR {q['plain']:.2f} dB",
        highlight=False,
    )
    stdout.print(
        "bytes at the same CRF are not a saving when quality drops: compare at equal quality "
        "with `jndtf eval rd CLIP`",
        highlight=False,
    )
