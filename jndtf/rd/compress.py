"""``jndtf compress``: one image through a JND-guided method and a JPEG encoder, and what the
plain encoder would cost AT EQUAL QUALITY (SSIMULACRA2 against the original).

- at a fixed ``quality``: the method's file, its SSIMULACRA2, and the smallest plain JPEG whose
  SSIMULACRA2 is at least as high (found by bisection over the plain encoder's quality);
- at a ``target`` SSIMULACRA2: the smallest method file reaching it (bisection over quality,
  which assumes quality rises with the setting — checked at the ends) and the smallest plain
  file reaching it.

The saving printed is always ``1 - method_bytes / plain_bytes`` with both at or above the same
SSIMULACRA2, never bytes at the same encoder setting.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from jndtf.codecs.image import DEFAULT_ENCODER, decode_image, encode_jpeg
from jndtf.codecs.quality import psnr, ssimulacra2


@dataclass(frozen=True)
class Encode:
    """One JPEG: its ``quality`` setting, ``data``, SSIMULACRA2 and PSNR against the original."""

    quality: int
    data: bytes
    ssimulacra2: float
    psnr: float

    @property
    def nbytes(self) -> int:
        return len(self.data)


@dataclass(frozen=True)
class CompressResult:
    """The method's file, the plain file at equal (or higher) SSIMULACRA2 and the saving."""

    method: str
    strength: float
    encoder: str
    chosen: Encode
    plain_same_setting: Encode
    plain_equal_quality: Encode | None

    @property
    def saving_percent(self) -> float | None:
        """``100 (1 - method bytes / plain bytes at equal quality)``; None when no plain file
        reaches the method's quality."""
        if self.plain_equal_quality is None:
            return None
        return 100.0 * (1.0 - self.chosen.nbytes / self.plain_equal_quality.nbytes)


def _bisect(make: Callable[[int], Encode], target: float) -> Encode | None:
    """The lowest quality 1..100 whose encode reaches `target` SSIMULACRA2 (None if 100 does
    not). Each quality is encoded at most once."""
    cache: dict[int, Encode] = {}

    def at(q: int) -> Encode:
        if q not in cache:
            cache[q] = make(q)
        return cache[q]

    if at(100).ssimulacra2 < target:
        return None
    lo, hi = 1, 100  # invariant: hi reaches the target
    if at(lo).ssimulacra2 >= target:
        return at(lo)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if at(mid).ssimulacra2 >= target:
            hi = mid
        else:
            lo = mid
    return at(hi)


def compress_image(
    image: np.ndarray,
    *,
    jnd: np.ndarray | None,
    method: str,
    strength: float,
    encoder: str = DEFAULT_ENCODER,
    quality: int | None = None,
    target: float | None = None,
) -> CompressResult:
    """Codes `image` with `method` at `quality`, or at the lowest quality reaching `target`
    SSIMULACRA2, and finds the plain encoder's smallest file at equal SSIMULACRA2.

    Raises:
        ValueError: neither or both of `quality` / `target`, or a target no quality reaches.
    """
    from jndtf.apply.methods import get_method

    if (quality is None) == (target is None):
        raise ValueError("give exactly one of --quality or --ssimulacra2")
    m = get_method(method)
    if jnd is None:
        if m.name != "none":
            raise ValueError(f"method {method!r} needs a JND map (--jnd)")
        jnd = np.zeros((*image.shape[:2], 1), np.float32)  # 'none' ignores the map
    processed = m.apply(image, jnd, strength) if m.kind == "pixel" else None

    def with_method(q: int) -> Encode:
        if processed is not None:
            data = encode_jpeg(processed, q, encoder)
        else:
            data = m.encode(image, jnd, strength, q, encoder)
        dec = decode_image(data)
        return Encode(q, data, ssimulacra2(image, dec), psnr(image, dec))

    def plain(q: int) -> Encode:
        data = encode_jpeg(image, q, encoder)
        dec = decode_image(data)
        return Encode(q, data, ssimulacra2(image, dec), psnr(image, dec))

    if quality is not None:
        chosen = with_method(int(quality))
    else:
        chosen = _bisect(with_method, float(target))
        if chosen is None:
            raise ValueError(
                f"--ssimulacra2 {target:g} is not reached by {method} at strength {strength:g} "
                "even at quality 100: lower the target or the strength"
            )
    same = plain(chosen.quality)
    equal = _bisect(plain, chosen.ssimulacra2)
    return CompressResult(m.name, float(strength), encoder, chosen, same, equal)
