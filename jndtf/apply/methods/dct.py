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
"""

from __future__ import annotations

import functools
import os
import tempfile

import cv2
import numpy as np

from jndtf.apply.methods import Method, check_inputs, register
from jndtf.apply.methods._codec import Encoder, encode_turbo, resolve_encoder

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
    n = np.arange(8)
    c = np.where(n == 0, 1 / np.sqrt(2), 1.0)
    cos = c[:, None] * np.cos((2 * n[None, :] + 1) * n[:, None] * np.pi / 16) / 2  # [freq, pos]
    return np.einsum("vy,ux->vuyx", cos, cos).reshape(64, 64)


_BASIS = idct_basis()


def _blocks(a: np.ndarray, hb: int, wb: int) -> np.ndarray:
    """``(hb*8) x (wb*8)`` plane -> ``(hb, wb, 64)`` row-major 8x8 blocks."""
    return a.reshape(hb, 8, wb, 8).transpose(0, 2, 1, 3).reshape(hb, wb, 64)


def _pad_to(a: np.ndarray, h: int, w: int, fill: float) -> np.ndarray:
    out = np.full((h, w), fill, dtype=np.float64)
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
    hb, wb = coef.shape[:2]
    n = hb * wb
    order = ZIGZAG[:0:-1]  # scan positions 63 .. 1 (row-major indices); DC is never touched
    level = coef.reshape(n, 64)[:, order].astype(np.int32)
    mag = np.abs(level)
    mask = (level != 0) & (mag <= max_level)
    t = None
    if true is not None:
        t = np.abs(true.reshape(n, 64)[:, order])
        th = np.broadcast_to(np.asarray(theta, dtype=np.float64), (hb, wb)).reshape(n, 1)
        mask &= t < th
    edge = None
    if shrink and t is not None:
        # |L| = 2, 4, 8, ...: one less drops a magnitude bit (JPEG's size category)
        edge = (mag >= 2) & ((mag & (mag - 1)) == 0) & (t - (mag - 1) < th)
        mask |= edge
    blk, col = np.nonzero(mask)  # row-major: per block, scan positions 63 .. 1
    out = coef.reshape(n, 64).astype(np.int32)
    if blk.size == 0:
        return out.reshape(coef.shape).astype(np.int16)
    k = order[col]
    lev = level[blk, col]
    new = np.where(edge[blk, col], lev - np.sign(lev), 0) if edge is not None else 0 * lev
    delta = ((lev - new) * qt.reshape(64).astype(np.float64)[k])[:, None]
    bud = _blocks(budget, hb, wb).reshape(n, 64)
    first = np.searchsorted(blk, blk)  # index of each block's first candidate
    rank = np.arange(blk.size) - first
    by_round = np.argsort(rank, kind="stable")
    bounds = np.searchsorted(rank[by_round], np.arange(rank.max() + 2))
    change = np.zeros((n, 64))
    for r in range(rank.max() + 1):
        idx = by_round[bounds[r] : bounds[r + 1]]  # at most one candidate per block
        b = blk[idx]
        trial = change[b] - delta[idx] * _BASIS[k[idx]]
        ok = np.all(np.abs(trial) <= bud[b], axis=1)
        change[b[ok]] = trial[ok]
        out[b[ok], k[idx[ok]]] = new[idx[ok]] if edge is not None else 0
    return out.reshape(coef.shape).astype(np.int16)


def forward_dct(plane: np.ndarray, hb: int, wb: int) -> np.ndarray:
    """``(hb, wb, 8, 8)`` DCT coefficients of a plane (level-shifted by 128, edge-padded to the
    block grid as libjpeg pads)."""
    h, w = plane.shape
    p = np.pad(plane - 128.0, ((0, max(0, hb * 8 - h)), (0, max(0, wb * 8 - w))), mode="edge")
    blocks = _blocks(p[: hb * 8, : wb * 8], hb, wb)
    return (blocks @ _BASIS.T).reshape(hb, wb, 8, 8)


def ycbcr(image: np.ndarray) -> list[np.ndarray]:
    """JFIF full-range Y, Cb, Cr planes (float64) of a uint8 RGB image."""
    x = image.astype(np.float64)
    r, g, b = x[..., 0], x[..., 1], x[..., 2]
    return [
        0.299 * r + 0.587 * g + 0.114 * b,
        -0.168736 * r - 0.331264 * g + 0.5 * b + 128,
        0.5 * r - 0.418688 * g - 0.081312 * b + 128,
    ]


def _box(a: np.ndarray, fy: int, fx: int) -> np.ndarray:
    """Mean of every ``fy x fx`` tile (edge-padded), as libjpeg's integer-factor downsampling."""
    h, w = a.shape
    hp, wp = -(-h // fy) * fy, -(-w // fx) * fx
    p = np.pad(a, ((0, hp - h), (0, wp - w)), mode="edge")
    p = sum(p[:, i::fx] for i in range(fx)) / fx
    return sum(p[i::fy] for i in range(fy)) / fy


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
    luma_b, chroma_b = budgets(jnd, strength, alpha)
    planes = ycbcr(image) if image is not None else [None, None, None]
    hb, wb = comps[0].shape[:2]

    jmean = (jnd[..., 0] if jnd.shape[2] == 1 else jnd.mean(axis=2)).astype(np.float64)
    jmed = max(float(np.median(jmean)), 1e-6)

    def edge(fy, fx, chb, cwb):
        if spread == 0 or not np.isfinite(theta):
            return theta
        jb = _box(_box(jmean, fy, fx), 8, 8)[:chb, :cwb]
        jb = np.pad(jb, ((0, chb - jb.shape[0]), (0, cwb - jb.shape[1])), mode="edge")
        return np.clip(theta + spread * np.log2(np.maximum(jb, 1e-6) / jmed), 0.5, 1.0)

    def true(plane, fy, fx, chb, cwb, table):
        if plane is None:
            return None
        small = plane if fy == fx == 1 else _box(plane, fy, fx)
        return forward_dct(small, chb, cwb) / table

    out = [
        suppress(
            comps[0],
            qts[0],
            _pad_to(luma_b, hb * 8, wb * 8, np.inf),
            max_level,
            true(planes[0], 1, 1, hb, wb, qts[0]),
            edge(1, 1, hb, wb),
            shrink,
        )
    ]
    for i, scale in ((1, 1.772), (2, 1.402)):
        if i >= len(comps):
            break
        chb, cwb = comps[i].shape[:2]
        fy, fx = -(-hb // chb), -(-wb // cwb)  # subsampling factors (2, 2 for 4:2:0)
        pooled = _min_pool(chroma_b, fy, fx) / scale
        out.append(
            suppress(
                comps[i],
                qts[i],
                _pad_to(pooled, chb * 8, cwb * 8, np.inf),
                max_level,
                true(planes[i], fy, fx, chb, cwb, qts[i]),
                edge(fy, fx, chb, cwb),
                shrink,
            )
        )
    return out


# --- libjpeg-turbo's baseline encoder, replicated: its quantized coefficients without a decode ---
#
# OpenCV's cv2.imencode runs libjpeg-turbo with jpeg_set_defaults + jpeg_set_quality(q, TRUE):
# integer RGB -> YCbCr (jccolor.c, 16 fractional bits), 4:2:0 by 2x2 sums with the alternating
# bias 1, 2 (jcsample.c h2v2_downsample; the input edge-replicated to whole chroma blocks across
# and to an even row count down, the chroma plane then edge-replicated to whole blocks as
# jcprepct.c pads an iMCU row), the "islow" integer DCT (jfdctint.c: two 1-D passes, each an
# integer matrix product followed by a rounding right shift) and round-half-up division by
# 8·Q (jcdctmgr.c; its reciprocal multiply is exact for every 16-bit input). Every step is an
# integer computation, done here in float64, where all intermediates (< 2^31) are exact.
# The replica is checked against the real encoder once per process (_turbo_replica_ok).

_CONST_BITS, _PASS1_BITS = 13, 2


def _islow_pass(d: list, last: bool) -> tuple[list, list[int]]:
    """One 1-D pass of jfdctint.c on 8 inputs without its final descale: (outputs, right
    shift of each output). Linear in the inputs (no rounding inside a pass)."""

    def fix(x: float) -> int:
        return int(x * (1 << _CONST_BITS) + 0.5)

    t0, t7 = d[0] + d[7], d[0] - d[7]
    t1, t6 = d[1] + d[6], d[1] - d[6]
    t2, t5 = d[2] + d[5], d[2] - d[5]
    t3, t4 = d[3] + d[4], d[3] - d[4]
    t10, t13, t11, t12 = t0 + t3, t0 - t3, t1 + t2, t1 - t2
    out = [0] * 8
    up = 1 if last else 1 << _PASS1_BITS
    out[0], out[4] = (t10 + t11) * up, (t10 - t11) * up
    z1 = (t12 + t13) * fix(0.541196100)
    out[2] = z1 + t13 * fix(0.765366865)
    out[6] = z1 - t12 * fix(1.847759065)
    z1, z2, z3, z4 = t4 + t7, t5 + t6, t4 + t6, t5 + t7
    z5 = (z3 + z4) * fix(1.175875602)
    t4, t5 = t4 * fix(0.298631336), t5 * fix(2.053119869)
    t6, t7 = t6 * fix(3.072711026), t7 * fix(1.501321110)
    z1, z2 = -z1 * fix(0.899976223), -z2 * fix(2.562915447)
    z3, z4 = -z3 * fix(1.961570560) + z5, -z4 * fix(0.390180644) + z5
    out[7], out[5] = t4 + z1 + z3, t5 + z2 + z4
    out[3], out[1] = t6 + z2 + z3, t7 + z1 + z4
    odd = _CONST_BITS + _PASS1_BITS if last else _CONST_BITS - _PASS1_BITS
    shift = [(_PASS1_BITS if last else 0) if i in (0, 4) else odd for i in range(8)]
    return out, shift


def _islow_matrix(last: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(8x8 integer matrix M, 2^-shift, rounding offset) of one pass: ``out = floor((x @ M.T +
    offset) · 2^-shift)``."""
    cols = [_islow_pass(list(np.eye(8, dtype=np.int64)[j]), last)[0] for j in range(8)]
    m = np.array([[int(cols[j][i]) for j in range(8)] for i in range(8)], dtype=np.float64)
    shift = np.array(_islow_pass([0] * 8, last)[1])
    return m.T.copy(), 2.0**-shift, np.where(shift > 0, 2.0 ** (shift - 1), 0.0)


_ISLOW = (_islow_matrix(False), _islow_matrix(True))

#: jccolor.c's RGB -> YCbCr in 16-bit fixed point (FIX(x) = round(x · 2^16)), with its offsets
#: (ONE_HALF for Y; CBCR_OFFSET + ONE_HALF - 1 for Cb and Cr) as a fourth column.
_FIX16 = np.array(
    [
        [19595, 38470, 7471, 32768],
        [-11059, -21709, 32768, (128 << 16) + 32767],
        [32768, -27439, -5329, (128 << 16) + 32767],
    ],
    dtype=np.float64,
)

#: ITU-T T.81 Annex K tables (row-major), scaled by jpeg_set_quality.
_STD_QT = np.array(
    [
        [16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57,
         69, 56, 14, 17, 22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64,
         81, 104, 113, 92, 49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99],
        [17, 18, 24, 47, 99, 99, 99, 99, 18, 21, 26, 66, 99, 99, 99, 99, 24, 26, 56, 99, 99, 99,
         99, 99, 47, 66, 99, 99, 99, 99, 99, 99] + [99] * 32,
    ],
    dtype=np.int64,
)  # fmt: skip


def turbo_tables(quality: int) -> np.ndarray:
    """``2 x 8 x 8`` luma and chroma tables of ``jpeg_set_quality(quality, TRUE)`` (baseline)."""
    q = min(max(int(quality), 1), 100)
    scale = 5000 // q if q < 50 else 200 - 2 * q
    return np.clip((_STD_QT * scale + 50) // 100, 1, 255).reshape(2, 8, 8)


def _islow_quantize(plane: np.ndarray, hb: int, wb: int, table: np.ndarray) -> np.ndarray:
    x = plane.reshape(hb, 8, wb, 8).transpose(0, 2, 1, 3).reshape(-1, 8) - 128.0  # block rows
    for m, scale, offset in _ISLOW:  # rows, then columns (the transpose puts them in place)
        x = np.floor((x @ m + offset) * scale)
        x = x.reshape(-1, 8, 8).transpose(0, 2, 1).reshape(-1, 8)
    d = 8.0 * table.reshape(1, 64)
    x = x.reshape(-1, 64)
    q = np.floor((np.abs(x) + d / 2) / d)
    return np.copysign(q, x).astype(np.int16).reshape(hb, wb, 8, 8)


def turbo_coefficients(image: np.ndarray, quality: int) -> tuple[list[np.ndarray], np.ndarray]:
    """The quantized Y, Cb, Cr coefficients (``(hb, wb, 8, 8)`` int16 each) and the ``2 x 8 x 8``
    tables that libjpeg-turbo writes for a uint8 RGB image at `quality` as OpenCV calls it
    (baseline 4:2:0, islow DCT), computed without encoding or decoding (see the comment above)."""
    h, w = image.shape[:2]
    hb, wb, chb, cwb = -(-h // 8), -(-w // 8), -(-h // 16), -(-w // 16)
    ycc = np.floor(cv2.transform(image.astype(np.float64), _FIX16) * 2.0**-16)
    y = np.pad(ycc[..., 0], ((0, hb * 8 - h), (0, wb * 8 - w)), mode="edge")
    c = np.pad(ycc[..., 1:], ((0, h & 1), (0, cwb * 16 - w), (0, 0)), mode="edge")
    c = c[0::2, 0::2] + c[0::2, 1::2] + c[1::2, 0::2] + c[1::2, 1::2]
    c = np.floor((c + np.tile([1.0, 2.0], cwb * 4)[None, :, None]) * 0.25)
    c = np.pad(c, ((0, chb * 8 - c.shape[0]), (0, 0), (0, 0)), mode="edge")
    tables = turbo_tables(quality)
    comps = [_islow_quantize(y, hb, wb, tables[0])]
    comps += [_islow_quantize(np.ascontiguousarray(c[..., i]), chb, cwb, tables[1]) for i in (0, 1)]
    return comps, tables


#: The APP0 (JFIF 1.01, no density unit, 1:1) segment libjpeg-turbo writes after SOI. jpeglib
#: copies a source file's markers into the file it writes after libjpeg's own JFIF header, so
#: the dct method's files have carried it twice since the first release (18 bytes); the fast
#: writer keeps it so files stay byte-identical.
_TURBO_APP0 = b"\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"


@functools.cache
def _coef_writer():
    """ctypes entry ``write_jpeg_dct`` of the libjpeg-turbo 2.1 that jpeglib bundles (SIMD-free
    but ~2x faster Huffman coding than its default libjpeg 6b, same bytes), or None."""
    import ctypes

    try:
        import jpeglib

        path = os.path.join(os.path.dirname(jpeglib.__file__), "cjpeglib")
        lib = ctypes.CDLL(os.path.join(path, "cjpeglib_turbo210.abi3.so"))
        return lib.write_jpeg_dct
    except (ImportError, OSError, AttributeError):  # pragma: no cover - depends on the install
        return None


def _write_turbo_file(comps: list[np.ndarray], tables: np.ndarray, h: int, w: int) -> bytes:
    """Baseline 4:2:0 JPEG of the coefficients with optimized Huffman tables, written as jpeglib
    rewrites an OpenCV file (its header, its copied APP0), through jpeglib's bundled library."""
    import ctypes

    write = _coef_writer()
    arrays = [np.ascontiguousarray(a, dtype=np.int16) for a in comps]
    dims = np.array([h, w], np.int32)
    blocks = np.array([a.shape[:2] for a in arrays], np.int32).reshape(-1)
    samp = np.array([2, 2, 1, 1, 1, 1], np.int32)
    qt = np.ascontiguousarray(tables.reshape(2, 64), dtype=np.uint16)
    tbl = np.array([0, 1, 1, -1], np.int16)
    payload = np.frombuffer(_TURBO_APP0[4:], np.uint8).copy()
    mtype, mlen = np.array([0xE0], np.int32), np.array([payload.size], np.int32)

    def ptr(a):
        return a.ctypes.data_as(ctypes.c_void_p)

    fd, path = tempfile.mkstemp(
        suffix=".jpg", dir="/dev/shm" if os.path.isdir("/dev/shm") else None
    )
    os.close(fd)
    try:
        ok = write(
            None, path.encode(), *(ptr(a) for a in arrays), None, ptr(dims), ptr(blocks),
            ptr(samp), 3, 3, ptr(qt), ctypes.c_short(-1), ptr(tbl), 1, ptr(mtype), ptr(mlen),
            ptr(payload), ctypes.c_uint(1 << 6), ctypes.c_uint(0xFFFFFFFF),  # +OPTIMIZE_CODING
        )  # fmt: skip
        if ok != 1:
            raise OSError("jpeglib could not write the JPEG coefficients")
        with open(path, "rb") as f:
            return f.read()
    finally:
        os.unlink(path)


@functools.cache
def _turbo_replica_ok() -> bool:
    """Whether :func:`turbo_coefficients` and :func:`_write_turbo_file` reproduce this install's
    OpenCV encoder and jpeglib's rewrite (odd size, two qualities); else the slow path runs."""
    from jndtf.apply.methods._codec import encode_turbo

    if _coef_writer() is None:
        return False
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:37, 0:45]
    img = np.clip(
        np.stack([xx * 5, yy * 6, 255 - xx * 3], axis=2) + rng.normal(0, 20, (37, 45, 3)), 0, 255
    ).astype(np.uint8)
    try:
        for q in (35, 92):
            plain = encode_turbo(img, q)
            comps, tables = turbo_coefficients(img, q)
            if _rewrite(plain) != _write_turbo_file(comps, tables, 37, 45):
                return False
    except Exception:  # pragma: no cover - any mismatch of the install: take the slow path
        return False
    return True


def _rewrite(data: bytes, transform=None) -> bytes:
    """jpeglib's read -> (transform of the coefficient list and tables) -> optimized write."""
    try:
        import jpeglib
    except ImportError as err:  # pragma: no cover - depends on the install
        raise ImportError(
            'the dct method needs jpeglib: pip install "jndtf[rd]" (or pip install jpeglib)'
        ) from err
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


def suppress_turbo(
    image: np.ndarray,
    jnd: np.ndarray,
    strength: float,
    quality: int,
    *,
    theta: float = np.inf,
    spread: float = 0.0,
    shrink: bool = False,
    alpha: float = 0.7,
    max_level: int = 1,
) -> bytes:
    """``suppress_jpeg(encode_turbo(image, quality), jnd, strength, image=image, ...)``, the same
    bytes, without the encode and the decode: the coefficients come from the replica of the
    encoder (:func:`turbo_coefficients`) and are entropy-coded once. Falls back to that call
    where the replica does not match this install."""
    if not _turbo_replica_ok():
        from jndtf.apply.methods._codec import encode_turbo

        return suppress_jpeg(
            encode_turbo(image, quality), jnd, strength, image=image, theta=theta,
            spread=spread, shrink=shrink, alpha=alpha, max_level=max_level,
        )  # fmt: skip
    comps, tables = turbo_coefficients(image, quality)
    qts = [tables[0], tables[1], tables[1]]
    new = _suppress_components(
        comps, qts, jnd, strength, image, theta, spread, shrink, alpha, max_level
    )
    return _write_turbo_file(new, tables, *image.shape[:2])


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
        enc = resolve_encoder(encoder)
        if s > 0 and enc is encode_turbo and np.isfinite(self.theta):
            return suppress_turbo(
                img, j, s, quality, theta=self.theta, spread=self.spread, shrink=self.shrink,
                alpha=self.alpha, max_level=self.max_level,
            )  # fmt: skip
        plain = enc(img, quality)
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
