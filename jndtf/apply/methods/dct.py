"""``dct``: JND-bounded suppression of quantized DCT coefficients inside a real JPEG encoder.

The encoder (libjpeg-turbo or jpegli) codes the image at its quality; ``jpeglib`` reads the
quantized coefficients of its file on ITS grid, with ITS quantization tables (jpegli's adaptive
quantization included), and this module zeroes coefficients whose removal keeps every decoded pixel
within ``s·JND`` of the plain encoder's decoded pixel, then writes the coefficients back with
optimized Huffman tables. Nothing else changes: tables, sampling, DC terms, the other coefficients.

Which coefficients. Only quantized ±1 levels whose TRUE value (the original's DCT on the same
grid, divided by the step; libjpeg rounds at 0.5) lies below a dead-zone edge ``theta`` (0.6 by
default) are candidates: zeroing them adds little error (the true value was near the rounding
edge) and removes a whole (run, size) symbol, as trellis quantization reasons. The JND map widens
the edge where it tolerates more, ``theta + spread · log2(J_block / J_median)`` (0.5 .. 1.0).
Coefficients are visited from the highest zigzag position down, so trailing ones (which move
the end-of-block code forward) go first. ``shrink=True`` (off by default: the file is then no
longer "the plain one with zeros added") also lowers ``|L| = 2, 4, 8, ...`` by one where the true
value is within the same dead zone of ``|L| - 1``, dropping one magnitude bit: about 0.4 points
more BD-rate on four tuning photos.

Measured (SSIMULACRA2 BD-rate, held-out photos 042..049 of train-photos, 512x384 centre crops,
acol map, benchmarks/methods_rd.py and ``jndtf eval rd``): on libjpeg-turbo ``dct`` s=4 saves 7.0 %
against plain turbo, of which 4.5 % is the optimized Huffman rewrite alone; the same dead zone
WITHOUT the map (no bound, no spread) saves 7.6 %, so the map is a guarantee here, not a saving.
Inside jpegli it saves 6.1 % against jpegli, all but 0.1 % of it the Huffman rewrite.

The bound. With ``b = s · min_c JND`` per pixel, luma gets ``α·b``, Cb ``(1-α)·b / 1.772``
and Cr ``(1-α)·b / 1.402`` (each chroma sample takes the minimum over the pixels its upsampled
value reaches). JFIF's YCbCr -> RGB gives ``|ΔR| <= |ΔY| + 1.402|ΔCr|``,
``|ΔB| <= |ΔY| + 1.772|ΔCb|``, ``|ΔG| <= |ΔY| + 0.344|ΔCb| + 0.714|ΔCr|``, each ``<= b``.
The coefficient change of a block is exact in real arithmetic (the JPEG IDCT basis); the decoder's
integer IDCT and colour conversion add at most a couple of grey levels of rounding.

Cost (issue #13; 640x360, q85, one thread, ``benchmarks/methods_cost.py``). A file laid out as
libjpeg-turbo writes it through OpenCV (:func:`_turbo_layout`) is decoded once and re-encoded
once by the C entry points of the libjpeg-turbo 2.1 that jpeglib bundles (about 1.1 ms + 2.5 ms
CPU; the two Huffman passes of the optimized write are the larger part), with no jpeglib Python
objects per call; the bytes are jpeglib's (checked once per process by :func:`_fast_path_ok`,
and any other layout, e.g. jpegli's, takes jpeglib's public read and write). In between, all
work is whole-plane numpy: the original's DCT as two 8x8 matrix products, the candidates listed
once, and each block's sequential accept/reject run in rounds over the blocks that still have a
candidate. The files are byte-identical to the earlier per-scan-position implementation
(tests/test_dct_fast.py keeps it as the reference); about 12 ms CPU added per frame instead of
29 ms on a shared 2-core EPYC. Replicating the encoder's integer pipeline in numpy to skip the
decode was exact but slower (13 ms against 1.7 ms for OpenCV's encode plus one C decode).
"""

from __future__ import annotations

import functools
import os
import tempfile

import cv2
import numpy as np

from jndtf.apply.methods import Method, check_inputs, register
from jndtf.apply.methods._codec import Encoder, resolve_encoder

#: JPEG's zigzag scan: ZIGZAG[i] is the row-major index (row = vertical frequency) of scan
#: position i.
ZIGZAG = np.array(
    [0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34, 27,
     20, 13, 6, 7, 14, 21, 28, 35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51, 58,
     59, 52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63],
    dtype=np.int64,
)  # fmt: skip


def idct_basis() -> np.ndarray:
    """``64 x 64`` matrix: row k (row-major coefficient index) is the 8x8 pixel pattern of a unit
    dequantized coefficient, JPEG's IDCT ``f(y,x) = 1/4 Σ C(v)C(u) F(v,u) cos((2y+1)vπ/16)
    cos((2x+1)uπ/16)`` with ``C(0) = 1/√2``, else 1 (ITU-T T.81, A.3.3)."""
    cos = _dct_matrix()
    return np.einsum("vy,ux->vuyx", cos, cos).reshape(64, 64)


def _dct_matrix() -> np.ndarray:
    """``D[freq, pos] = C(freq)/2 · cos((2·pos+1)·freq·π/16)``: JPEG's 8-point DCT (orthonormal)."""
    n = np.arange(8)
    c = np.where(n == 0, 1 / np.sqrt(2), 1.0)
    return c[:, None] * np.cos((2 * n[None, :] + 1) * n[:, None] * np.pi / 16) / 2


_BASIS = idct_basis()
_DCT8 = _dct_matrix()
_SCAN_DOWN = ZIGZAG[::-1].copy()  # row-major indices from scan position 63 down to 0


def _blocks(a: np.ndarray, hb: int, wb: int) -> np.ndarray:
    """``(hb*8) x (wb*8)`` plane -> ``(hb, wb, 64)`` row-major 8x8 blocks."""
    return a.reshape(hb, 8, wb, 8).transpose(0, 2, 1, 3).reshape(hb, wb, 64)


def _pad_to(a: np.ndarray, h: int, w: int, fill: float, dtype=np.float64) -> np.ndarray:
    if a.shape == (h, w) and a.dtype == dtype:
        return a
    out = np.full((h, w), fill, dtype=dtype)
    hh, ww = min(h, a.shape[0]), min(w, a.shape[1])
    out[:hh, :ww] = a[:hh, :ww]
    return out


def suppress(
    coef: np.ndarray,
    qt: np.ndarray,
    budget: np.ndarray,
    max_level: int,
    true: np.ndarray | None = None,
    theta: float | np.ndarray = np.inf,
    shrink: bool = False,
) -> np.ndarray:
    """Zeroes coefficients of every block while ``|pixel change| <= budget`` (vectorized).

    Each block visits its candidates from the highest zigzag position down and keeps a change
    only while every pixel of the block's accumulated change stays within its budget. The
    candidates of all blocks are listed at once; round r tries the r-th candidate of every block
    that has one (a few rounds over short arrays instead of 63 passes over all blocks), with the
    same floating-point operations in the same order per block as a position-by-position scan.

    Args:
        coef: ``(hb, wb, 8, 8)`` int16 quantized coefficients (row = vertical frequency).
        qt: ``8 x 8`` quantization table of this component.
        budget: ``(hb*8) x (wb*8)`` allowed absolute change per sample (>= 0).
        max_level: largest ``|coefficient|`` that may be zeroed.
        true: ``(hb, wb, 8, 8)`` unquantized coefficients of the original in units of the
            quantization step (None: unknown); with it only coefficients with
            ``|true| < theta`` are zeroed (a dead zone: libjpeg rounds at 0.5).
        theta: the dead-zone edge in quantization steps (ignored without `true`): a number or
            an ``(hb, wb)`` array, one per block.
        shrink: also lower ``|L| = 2, 4, 8, ...`` by one where ``|true| - (|L| - 1) < theta``.

    Returns:
        The new coefficients (a copy; zeros only added).
    """
    return _suppress(coef, qt, budget, max_level, true, theta, shrink)


def _suppress(
    coef, qt, budget, max_level, true, theta, shrink, divisor=None, scale=None
) -> np.ndarray:
    """:func:`suppress`; with `divisor` (64 steps, row-major), `true` is in DCT units and is
    divided at the candidates only. `true` may be any ``(hb, wb, 8, 8)`` view. With `scale`
    ``(a, s)`` the budget is ``a · (s · budget)`` in float64, computed on the gathered blocks."""
    hb, wb = coef.shape[:2]
    n = hb * wb
    c16 = coef.reshape(n, 64)
    mag = np.abs(c16)
    sel = (mag != 0) & (mag <= max_level)
    if shrink and true is not None:
        sel |= (mag >= 2) & ((mag & (mag - 1)) == 0)
    sel[:, 0] = False  # DC is never touched
    # per block from the highest scan position down (flat indices: 2-D nonzero is slow)
    flat = np.flatnonzero(np.take(sel, _SCAN_DOWN, axis=1))
    blk, pos = flat >> 6, _SCAN_DOWN[flat & 63]
    lev = c16.reshape(-1)[(blk << 6) + pos].astype(np.int32)
    mag = np.abs(lev)
    new = np.zeros_like(lev)
    if true is not None:
        # forward_dct's view is (hb, 8, wb, 8) underneath: index that without a copy
        base = np.ascontiguousarray(np.asarray(true).transpose(0, 2, 1, 3)).reshape(-1)
        boff, poff = _offsets(hb, wb)
        t = np.abs(base[boff[blk] + poff[pos]])
        if divisor is not None:
            t = t / divisor.reshape(64).astype(np.float64)[pos]
        th = np.asarray(theta, dtype=np.float64)
        th = np.broadcast_to(th, (hb, wb)).reshape(n)[blk] if th.ndim else th
        mask = (mag <= max_level) & (t < th)
        if shrink:
            # |L| = 2, 4, 8, ...: one less drops a magnitude bit (JPEG's size category)
            edge = (mag >= 2) & ((mag & (mag - 1)) == 0) & (t - (mag - 1) < th)
            mask |= edge
            new = np.where(edge, lev - np.sign(lev), 0)
        blk, pos, lev, new = blk[mask], pos[mask], lev[mask], new[mask]
    out = coef.astype(np.int16)  # a copy
    if blk.size == 0:
        return out
    # round r tries the r-th candidate of every block that has one; blocks with more candidates
    # first, so each round's blocks are a prefix of one compact array
    head = np.ones(blk.size, dtype=bool)
    head[1:] = blk[1:] != blk[:-1]
    first = np.flatnonzero(head)
    cnt = np.diff(np.append(first, blk.size))
    which = np.cumsum(head) - 1  # each candidate's block among the blocks with candidates
    rank = np.arange(blk.size) - first[which]
    by_cnt = np.argsort(-cnt, kind="stable")
    slot = np.empty_like(by_cnt)
    slot[by_cnt] = np.arange(by_cnt.size)
    active = np.cumsum(np.bincount(cnt)[::-1])[::-1]  # active[r]: blocks with > r - 1 candidates
    starts = np.concatenate([[0], np.cumsum(active[1:])])  # where round r begins
    order = np.empty(blk.size, dtype=np.intp)
    order[starts[rank] + slot[which]] = np.arange(blk.size)
    blk, pos, lev, new = blk[order], pos[order], lev[order], new[order]
    diff = ((lev - new) * qt.reshape(64).astype(np.float64)[pos])[:, None] * _BASIS[pos]
    bud = _blocks(budget, hb, wb).reshape(n, 64)[blk[: active[1]]]  # in slot order
    if scale is not None:
        bud = scale[0] * (scale[1] * bud.astype(np.float64))
    change = np.zeros_like(bud)
    ok = np.zeros(blk.size, dtype=bool)
    for r in range(cnt.max()):
        nr, later = int(active[r + 1]), int(active[r + 2]) if r + 2 < active.size else 0
        i = slice(starts[r], starts[r] + nr)
        trial = change[:nr] - diff[i]
        good = np.all(np.abs(trial) <= bud[:nr], axis=1)
        if later:  # only blocks with a later candidate need their change kept
            np.copyto(change[:later], trial[:later], where=good[:later, None])
        ok[i] = good
    out.reshape(n, 64)[blk[ok], pos[ok]] = new[ok]
    return out


@functools.cache
def _offsets(hb: int, wb: int) -> tuple[np.ndarray, np.ndarray]:
    """Flat offsets into an ``(hb, 8, wb, 8)`` array: of block ``by·wb + bx`` and of row-major
    coefficient ``v·8 + u``, so that element = ``boff[block] + poff[coefficient]``."""
    by, bx = np.divmod(np.arange(hb * wb), wb)
    v, u = np.divmod(np.arange(64), 8)
    return by * (64 * wb) + bx * 8, v * (8 * wb) + u


def forward_dct(plane: np.ndarray, hb: int, wb: int) -> np.ndarray:
    """``(hb, wb, 8, 8)`` DCT coefficients of a plane (level-shifted by 128, edge-padded to the
    block grid as libjpeg pads): ``D · block · Dᵀ`` with JPEG's 8-point DCT matrix ``D``, as two
    matrix products over the whole plane (a view, not a copy)."""
    h, w = plane.shape
    p = plane - 128.0
    if (h, w) != (hb * 8, wb * 8):
        p = np.pad(p, ((0, max(0, hb * 8 - h)), (0, max(0, wb * 8 - w))), mode="edge")
        p = np.ascontiguousarray(p[: hb * 8, : wb * 8])
    x = p.reshape(-1, 8) @ _DCT8.T  # along each block row
    x = np.matmul(_DCT8, x.reshape(hb, 8, wb * 8))  # down each block column
    return x.reshape(hb, 8, wb, 8).transpose(0, 2, 1, 3)


#: JFIF's RGB -> YCbCr (full range) with the chroma offset as a fourth column.
_JFIF = np.array(
    [
        [0.299, 0.587, 0.114, 0.0],
        [-0.168736, -0.331264, 0.5, 128.0],
        [0.5, -0.418688, -0.081312, 128.0],
    ]
)


def ycbcr(image: np.ndarray) -> list[np.ndarray]:
    """JFIF full-range Y, Cb, Cr planes (float64) of a uint8 RGB image."""
    return list(cv2.split(cv2.transform(image.astype(np.float64), _JFIF)))


def _box(a: np.ndarray, fy: int, fx: int) -> np.ndarray:
    """Mean of every ``fy x fx`` tile (edge-padded), as libjpeg's integer-factor downsampling
    (of each channel of an ``H x W x C`` array)."""
    h, w = a.shape[:2]
    hp, wp = -(-h // fy) * fy, -(-w // fx) * fx
    pad = ((0, hp - h), (0, wp - w)) + ((0, 0),) * (a.ndim - 2)
    p = a if (hp, wp) == (h, w) else np.pad(a, pad, mode="edge")
    if fy == fx == 1:
        return p
    return cv2.resize(p, (wp // fx, hp // fy), interpolation=cv2.INTER_AREA)


def _median(a: np.ndarray) -> float:
    """``np.median`` of an array. Non-negative float32 (a JND map): a radix select, the bucket of
    the top 16 bits of the IEEE pattern (ordered like the values) by one histogram, then one
    partition inside it; else one partition of the whole array."""
    flat = a.reshape(-1)
    k = flat.size // 2
    ranks = [k] if flat.size % 2 else [k - 1, k]
    if flat.dtype == np.float32 and flat.size >= 4096 and flat.min() >= 0:  # NaN: min is NaN
        top = flat.view(np.uint32) >> 16
        cum = np.cumsum(np.bincount(top, minlength=1 << 16))
        vals = []
        for r in ranks:
            bucket = int(np.searchsorted(cum, r, side="right"))
            below = int(cum[bucket - 1]) if bucket else 0
            vals.append(float(np.partition(flat[top == bucket], r - below)[r - below]))
    else:
        part = np.partition(flat, ranks)
        vals = [float(part[r]) for r in ranks]
    return vals[0] if len(vals) == 1 else (vals[0] + vals[1]) / 2


def budgets(jnd: np.ndarray, strength: float, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """Per-pixel luma budget ``α·b`` and the full-resolution chroma base ``(1-α)·b`` eroded so a
    chroma sample's budget holds for every pixel its (fancy-)upsampled value reaches."""
    j = jnd[..., 0] if jnd.shape[2] == 1 else jnd.min(axis=2)
    b = strength * j.astype(np.float64)
    chroma = cv2.erode(((1 - alpha) * b).astype(np.float32), np.ones((5, 5), np.uint8))
    return alpha * b, chroma.astype(np.float64)


def _min_pool(a: np.ndarray, fy: int, fx: int) -> np.ndarray:
    h, w = a.shape
    hp, wp = -(-h // fy) * fy, -(-w // fx) * fx
    p = np.pad(a, ((0, hp - h), (0, wp - w)), mode="edge")
    p = functools.reduce(np.minimum, [p[:, i::fx] for i in range(fx)])  # strided slices: numpy
    return functools.reduce(np.minimum, [p[i::fy] for i in range(fy)])  # is slow on tiny axes


def _suppress_components(
    comps: list[np.ndarray],
    qts: list[np.ndarray],
    jnd: np.ndarray,
    strength: float,
    image: np.ndarray | None,
    theta: float,
    spread: float,
    shrink: bool,
    alpha: float,
    max_level: int,
) -> list[np.ndarray]:
    """The new ``(hb, wb, 8, 8)`` coefficient arrays of Y (and Cb, Cr): see :func:`suppress_jpeg`.
    `qts` holds each component's quantization table."""
    j = jnd[..., 0] if jnd.shape[2] == 1 else jnd.min(axis=2)
    # luma budget alpha·(s·J) in float64: scaled inside _suppress on the blocks it reads (the
    # padding stays inf); the full-size product only where s or alpha could turn inf into nan
    hb, wb = comps[0].shape[:2]
    if strength > 0 and alpha > 0 and j.dtype in (np.float32, np.float64):
        luma_b, luma_scale = _pad_to(j, hb * 8, wb * 8, np.inf, j.dtype), (alpha, strength)
    else:
        luma_b, luma_scale = _pad_to(alpha * (strength * j.astype(np.float64)), hb * 8, wb * 8,
                                     np.inf), None  # fmt: skip
    rgb = image.astype(np.float64) if image is not None else None

    jsrc = jnd[..., 0] if jnd.shape[2] == 1 else jnd.mean(axis=2)
    jmean = jsrc.astype(np.float64)
    jmed = max(_median(jsrc), 1e-6)

    @functools.cache  # Cb and Cr share the grid: each of these runs once per grid
    def edge(fy, fx, chb, cwb):
        if spread == 0 or not np.isfinite(theta):
            return theta
        jb = _box(_box(jmean, fy, fx), 8, 8)[:chb, :cwb]
        jb = np.pad(jb, ((0, chb - jb.shape[0]), (0, cwb - jb.shape[1])), mode="edge")
        return np.clip(theta + spread * np.log2(np.maximum(jb, 1e-6) / jmed), 0.5, 1.0)

    @functools.cache
    def small_rgb(fy, fx):
        return _box(rgb, fy, fx)  # the tile mean commutes with the affine colour conversion

    @functools.cache
    def pooled(fy, fx):
        """``_min_pool(budgets(...)[1], fy, fx)`` in one pass: the 5x5 erosion and the tile
        minimum are one erosion by a (4+fy) x (4+fx) box, and the scaling to the chroma budget
        is monotone (s, 1-α >= 0), so it commutes with the minimum and runs on the pooled map."""
        if strength < 0 or alpha > 1:
            return _min_pool(budgets(jnd, strength, alpha)[1], fy, fx)
        kernel = np.ones((4 + fy, 4 + fx), np.uint8)
        e = cv2.erode(j.astype(np.float32), kernel, anchor=(2, 2))[::fy, ::fx]
        return ((1 - alpha) * (strength * e.astype(np.float64))).astype(np.float32).astype(float)

    def true(i, fy, fx, chb, cwb):
        if rgb is None:
            return None
        plane = cv2.transform(rgb if fy == fx == 1 else small_rgb(fy, fx), _JFIF[i : i + 1])
        return forward_dct(plane, chb, cwb)

    out = [
        _suppress(
            comps[0],
            qts[0],
            luma_b,
            max_level,
            true(0, 1, 1, hb, wb),
            edge(1, 1, hb, wb),
            shrink,
            qts[0],
            luma_scale,
        )
    ]
    for i, scale in ((1, 1.772), (2, 1.402)):
        if i >= len(comps):
            break
        chb, cwb = comps[i].shape[:2]
        fy, fx = -(-hb // chb), -(-wb // cwb)  # subsampling factors (2, 2 for 4:2:0)
        out.append(
            _suppress(
                comps[i],
                qts[i],
                _pad_to(pooled(fy, fx) / scale, chb * 8, cwb * 8, np.inf),
                max_level,
                true(i, fy, fx, chb, cwb),
                edge(fy, fx, chb, cwb),
                shrink,
                qts[i],
            )
        )
    return out


# --- one decode, one encode: jpeglib's bundled libjpeg-turbo through its C entry points ---

#: The APP0 (JFIF 1.01, no density unit, 1:1) segment libjpeg-turbo writes after SOI. jpeglib
#: copies a source file's markers into the file it writes, after libjpeg's own JFIF header, so
#: the dct method's files have carried it twice since the first release (18 bytes); the fast
#: path writes it too, so files stay byte-identical.
_TURBO_APP0 = b"\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"


@functools.cache
def _cjpeglib():
    """The libjpeg-turbo 2.1 build that jpeglib ships (``read_jpeg_dct``/``write_jpeg_dct``, the
    functions jpeglib's own read and write call), or None. Its Huffman coder is ~2x faster than
    jpeglib's default libjpeg 6b and writes the same bytes."""
    import ctypes

    try:
        import jpeglib

        lib = ctypes.CDLL(
            os.path.join(os.path.dirname(jpeglib.__file__), "cjpeglib", "cjpeglib_turbo210.abi3.so")
        )
        lib.read_jpeg_dct, lib.write_jpeg_dct  # noqa: B018 - both must exist
        return lib
    except (ImportError, OSError, AttributeError):  # pragma: no cover - depends on the install
        return None


def _turbo_layout(data: bytes) -> tuple[int, int] | None:
    """``(height, width)`` where `data` is laid out as libjpeg-turbo writes it through OpenCV:
    SOI, the JFIF APP0 above, no other APPn/COM segment, baseline 8-bit 3-component 4:2:0 with
    tables 0, 1, 1; else None."""
    if data[:20] != b"\xff\xd8" + _TURBO_APP0:
        return None
    i = 20
    while i + 4 <= len(data) and data[i] == 0xFF:
        marker, length = data[i + 1], int.from_bytes(data[i + 2 : i + 4], "big")
        if marker == 0xC0:
            seg = data[i + 4 : i + 2 + length]
            ok = (
                seg[0] == 8 and seg[5] == 3 and seg[6:15] == b"\x01\x22\x00\x02\x11\x01\x03\x11\x01"
            )
            return (
                (int.from_bytes(seg[1:3], "big"), int.from_bytes(seg[3:5], "big")) if ok else None
            )
        if marker not in (0xDB, 0xC4):  # only tables before SOF0 (no restart interval)
            return None
        i += 2 + length
    return None


def _fast_rewrite(data: bytes, transform) -> bytes | None:
    """:func:`_rewrite` for a file in :func:`_turbo_layout`: the same bytes, decoded once and
    encoded once in C with no temporary Python objects per block; None where it does not apply."""
    import ctypes

    lib = _cjpeglib()
    dims = _turbo_layout(data) if lib is not None else None
    if dims is None:
        return None
    h, w = dims
    shapes = [(-(-h // 8), -(-w // 8))] + [(-(-h // 16), -(-w // 16))] * 2
    comps = [np.zeros((hb, wb, 8, 8), np.int16) for hb, wb in shapes]
    qt = np.zeros((4, 64), np.uint16)
    tbl = np.zeros(4, np.int16)

    def ptr(a):
        return a.ctypes.data_as(ctypes.c_void_p)

    fd, path = tempfile.mkstemp(
        suffix=".jpg", dir="/dev/shm" if os.path.isdir("/dev/shm") else None
    )
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        if lib.read_jpeg_dct(path.encode(), *(ptr(c) for c in comps), None, ptr(qt), ptr(tbl)) != 1:
            return None
        tables = qt[:2].reshape(2, 8, 8)
        if transform is not None:
            comps = [
                np.ascontiguousarray(c, dtype=np.int16)
                for c in transform(comps, [tables[0], tables[1], tables[1]])
            ]
        app0 = np.frombuffer(_TURBO_APP0[4:], np.uint8).copy()
        ok = lib.write_jpeg_dct(
            None, path.encode(), *(ptr(c) for c in comps), None,
            ptr(np.array([h, w], np.int32)), ptr(np.array(shapes, np.int32)),
            ptr(np.array([2, 2, 1, 1, 1, 1], np.int32)), 3, 3,
            ptr(np.ascontiguousarray(qt[:2])), ctypes.c_short(-1),
            ptr(np.array([0, 1, 1, -1], np.int16)), 1, ptr(np.array([0xE0], np.int32)),
            ptr(np.array([app0.size], np.int32)), ptr(app0),
            ctypes.c_uint(1 << 6), ctypes.c_uint(0xFFFFFFFF),  # jpeglib's "+OPTIMIZE_CODING"
        )  # fmt: skip
        if ok != 1:
            return None
        with open(path, "rb") as f:
            return f.read()
    finally:
        os.unlink(path)


@functools.cache
def _fast_path_ok() -> bool:
    """Whether :func:`_fast_rewrite` gives jpeglib's bytes on this install (checked once: an
    odd-sized probe at two qualities, coefficients unchanged and halved); else it is not used."""
    from jndtf.apply.methods._codec import encode_turbo

    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:37, 0:45]
    img = np.clip(
        np.stack([xx * 5, yy * 6, 255 - xx * 3], axis=2) + rng.normal(0, 20, (37, 45, 3)), 0, 255
    ).astype(np.uint8)

    def halve(comps, qts):
        return [c // 2 for c in comps]

    try:
        for q in (35, 92):
            plain = encode_turbo(img, q)
            for tr in (None, halve):
                if _fast_rewrite(plain, tr) != _rewrite(plain, tr, fast=False):
                    return False
    except Exception:  # pragma: no cover - any mismatch on this install: the slow path runs
        return False
    return True


def _rewrite(data: bytes, transform=None, fast: bool = True) -> bytes:
    """jpeglib's read -> `transform(coefficient arrays, their tables)` -> optimized write."""
    try:
        import jpeglib
    except ImportError as err:  # pragma: no cover - depends on the install
        raise ImportError(
            'the dct method needs jpeglib: pip install "jndtf[edge]" or "jndtf[rd]" (or jpeglib)'
        ) from err
    if fast and _fast_path_ok():
        out = _fast_rewrite(data, transform)
        if out is not None:
            return out
    fd, path = tempfile.mkstemp(
        suffix=".jpg", dir="/dev/shm" if os.path.isdir("/dev/shm") else None
    )
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        jpeg = jpeglib.read_dct(path)
        jpeg.load()
        if transform is not None:
            qt = np.asarray(jpeg.qt)
            tbl = list(np.asarray(jpeg.quant_tbl_no).reshape(-1))
            names = ["Y", "Cb", "Cr"] if jpeg.has_chrominance else ["Y"]
            comps = [getattr(jpeg, name) for name in names]
            new = transform(comps, [qt[tbl[i]] for i in range(len(names))])
            for name, arr in zip(names, new, strict=True):
                setattr(jpeg, name, arr)
        jpeg.write_dct(path, flags=["+OPTIMIZE_CODING"])
        with open(path, "rb") as f:
            return f.read()
    finally:
        os.unlink(path)


def suppress_jpeg(
    data: bytes,
    jnd: np.ndarray,
    strength: float,
    *,
    image: np.ndarray | None = None,
    theta: float = np.inf,
    spread: float = 0.0,
    shrink: bool = False,
    alpha: float = 0.7,
    max_level: int = 1,
) -> bytes:
    """Zeroes quantized coefficients of the JPEG file `data` within ``strength · jnd`` (see module).

    Args:
        data: a baseline or progressive YCbCr JPEG (any sampling), e.g. libjpeg-turbo's or jpegli's.
        jnd: ``HxWxC`` JND map of the image in grey levels (C = 1 or 3: the minimum is used).
        strength: multiplier of the map.
        image: the uint8 RGB original the file was coded from; with it, only coefficients whose
            unquantized value lies within `theta` quantization steps of zero are candidates.
        theta: dead-zone edge in quantization steps (needs `image`).
        spread: the JND moves each block's dead-zone edge by ``spread · log2(J_block / J_median)``
            (within 0.5 .. 1.0 steps): wider where the map tolerates more.
        alpha: the share of the budget given to luma (the rest to chroma).
        max_level: largest quantized magnitude that may be zeroed.

    Returns:
        The new JPEG bytes (optimized Huffman tables, same quantization tables).
    """

    def transform(comps, qts):
        return _suppress_components(
            comps, qts, jnd, strength, image, theta, spread, shrink, alpha, max_level
        )

    return _rewrite(data, transform)


class DctMethod(Method):
    """Encoder-side DCT suppression on the encoder's own grid and tables (see :mod:`.dct`)."""

    name = "dct"
    kind = "jpeg"
    description = (
        "inside the encoder: zero quantized ±1 DCT coefficients whose true value lies in a "
        "JND-widened dead zone (0.6 step), trailing first, luma and chroma, while every decoded "
        "pixel stays within s·JND of the plain encode; Huffman-optimized"
    )

    def __init__(
        self,
        alpha: float = 0.7,
        max_level: int = 1,
        theta: float = 0.6,
        spread: float = 0.1,
        shrink: bool = False,
    ):
        self.alpha, self.max_level, self.theta, self.spread = alpha, max_level, theta, spread
        self.shrink = shrink

    def encode(self, image, jnd, strength, quality, encoder: Encoder = "libjpeg-turbo"):
        img, j, s = check_inputs(image, jnd, strength)
        plain = resolve_encoder(encoder)(img, quality)
        if s == 0:
            return plain
        return suppress_jpeg(
            plain,
            j,
            s,
            image=img if np.isfinite(self.theta) else None,  # theta = inf: bound only
            theta=self.theta,
            spread=self.spread,
            shrink=self.shrink,
            alpha=self.alpha,
            max_level=self.max_level,
        )


register(DctMethod())
