"""JND-guided noise injection at a target noise level: eq. (7) of ACoL-JND, eq. (13) of hmJND.

Both papers compare JND models by the noise each map hides at the same noise level:

- ACoL-JND (Yu et al., KSII TIIS 2024), eq. (7): ``D = O ⊕ (λ · R · J)``, R a random matrix of
  +1/-1, λ adjusted until every distorted image has PSNR 26.06 dB;
- hmJND-Net (Xie et al., AAAI 2023), eq. (13): ``I_con = I_ori + α · γ · I_vt``, γ a random +1/-1
  matrix "with the same size as I_ori", α adjusted until MSE = 100.

jndtf writes both as ``distorted = clip(image + λ · R · jnd, 0, 255)`` (DESIGN.md), optionally
rounded to uint8 as a saved image would be, and *solves* λ so that the final output (after clipping
and rounding) has the requested MSE or PSNR. The MSE is a non-decreasing function of λ: without
rounding it is a continuous piecewise quadratic, solved by safeguarded Newton steps to 1e-12 of the
target; with rounding it is a step function, bracketed around that solution and narrowed by
interpolation and bisection.

Convention for R (``signs``):

- ``"per_channel"`` (default): one independent sign per pixel *and* channel, R shaped like the
  image. This is what hmJND states (γ has the size of I_ori, a colour image) and what ACoL-JND's
  "random matrix" injected into the RGB image O reads as; it is also what Wu 2017's demo does on
  grey images (one sign per pixel).
- ``"shared"``: one sign per pixel, the same for R, G and B (luminance-only noise, no colour noise).

The same seed gives the same R for the same image shape, so maps of different models are compared
under identical noise patterns.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

from jndtf.metrics import PEAK, mse_from_psnr, psnr_from_mse

#: The PSNR of every distorted image in §4 of the ACoL-JND paper (its comparison point; the
#: evaluation protocol's and the demo's default).
PAPER_PSNR = 26.06

#: Default accuracy of the PSNR/MSE targeting, in dB (0.01 dB = 0.23 % of the MSE).
DEFAULT_TOL_DB = 0.01

#: Relative spread of the per-element λ that breaks rounding ties when ``quantize=True``.
TIE_JITTER = 1e-9

SignMode = Literal["per_channel", "shared"]


class InjectionError(ValueError):
    """A target noise level that cannot be reached, or inputs that cannot be injected."""


@dataclass(frozen=True, eq=False)
class InjectionResult:
    """The output of :func:`inject`.

    Attributes:
        image: the distorted image, same shape as the input; uint8 when ``quantize=True``,
            otherwise float32 in 0..255.
        scale: λ of eq. (7) (α of hmJND eq. (13)) that produced `image`.
        mse: mean squared error between `image` and the input image, over all pixels and
            channels, in squared 0..255 units.
        psnr: ``10 log10(255² / mse)`` in dB (``inf`` when `mse` is 0).
        seed: the seed of the ±1 matrix R.
        signs: the sign convention, ``"per_channel"`` or ``"shared"``.
    """

    image: np.ndarray
    scale: float
    mse: float
    psnr: float
    seed: int
    signs: str


def random_signs(shape: tuple[int, ...], *, seed: int = 0, signs: SignMode = "per_channel"):
    """The ±1 matrix R of eq. (7) / γ of eq. (13), as int8.

    Args:
        shape: the image shape, ``HxW`` or ``HxWxC``.
        seed: seed of a ``numpy.random.Generator`` (PCG64); the same seed and shape give the
            same matrix.
        signs: ``"per_channel"`` draws one sign per element (R shaped like the image);
            ``"shared"`` draws one per pixel, shaped ``HxWx1`` for colour images.

    Returns:
        int8 array of +1 and -1, each with probability 1/2.
    """
    if signs not in ("per_channel", "shared"):
        raise InjectionError(f"signs must be 'per_channel' or 'shared', got {signs!r}")
    if signs == "shared" and len(shape) == 3:
        shape = (shape[0], shape[1], 1)
    rng = np.random.default_rng(seed)
    return (rng.integers(0, 2, size=shape, dtype=np.int8) * 2 - 1).astype(np.int8)


def _check_inputs(image: np.ndarray, jnd: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    img = np.asarray(image)
    if img.ndim not in (2, 3) or (img.ndim == 3 and img.shape[2] not in (1, 3)):
        raise InjectionError(f"image must be HxW, HxWx1 or HxWx3, got shape {img.shape}")
    if img.dtype != np.uint8:
        if not (np.issubdtype(img.dtype, np.floating) or np.issubdtype(img.dtype, np.integer)):
            raise InjectionError(f"unsupported image dtype {img.dtype}")
        img = img.astype(np.float64)
        if not np.all(np.isfinite(img)):
            raise InjectionError("image contains NaN or Inf values")
        if img.size and (img.min() < 0 or img.max() > PEAK):
            raise InjectionError(
                f"image values span {img.min():.4g}..{img.max():.4g}; expected 0..255"
            )
    j = np.asarray(jnd)
    if not (np.issubdtype(j.dtype, np.floating) or np.issubdtype(j.dtype, np.integer)):
        raise InjectionError(f"unsupported JND dtype {j.dtype}")
    j = j.astype(np.float64)
    h, w = img.shape[:2]
    c = img.shape[2] if img.ndim == 3 else None
    if j.ndim == 2:
        ok = j.shape == (h, w)
        if ok and c is not None:
            j = j[..., None]
    elif j.ndim == 3:
        ok = j.shape[:2] == (h, w) and (j.shape[2] == 1 or (c is not None and j.shape[2] == c))
        if ok and c is None:
            ok = j.shape[2] == 1
            j = j[..., 0]
    else:
        ok = False
    if not ok:
        raise InjectionError(
            f"JND map shape {j.shape} does not fit image shape {img.shape}: expected "
            f"{h}x{w}, {h}x{w}x1" + (f" or {h}x{w}x{c}" if c not in (None, 1) else "")
        )
    if not np.all(np.isfinite(j)):
        raise InjectionError("JND map contains NaN or Inf values")
    if j.size and j.min() < 0:
        raise InjectionError(f"JND map has negative values (min {j.min():.4g}); JND is >= 0")
    return img, j


class _Injector:
    """Evaluates the final MSE for a given λ with fixed image, JND and signs."""

    def __init__(
        self, image: np.ndarray, jnd: np.ndarray, r: np.ndarray, quantize: bool, seed: int
    ):
        self.dtype_in = image.dtype
        self.x = image.astype(np.float64)
        self.a = np.ascontiguousarray(np.broadcast_to(r * jnd, self.x.shape))
        self.quantize = quantize
        # Rounded output: elements whose JND values are equal (plateaus of a map) cross a
        # rounding boundary at the same λ, and the MSE can jump by more than the tolerance
        # there. Breaking those ties with a seeded relative jitter of TIE_JITTER on each
        # element's λ changes only values within ~1e-7 of a rounding boundary.
        self.a_q = self.a
        if quantize:
            u = np.random.default_rng([int(seed), 1]).random(self.x.shape)
            self.a_q = self.a * (1.0 + TIE_JITTER * u)
        self.n = self.x.size
        # Rounding a non-integer input already moves it at λ = 0.
        self.base = (
            float(np.sum((np.round(self.x) - self.x) ** 2)) / self.n
            if quantize and self.dtype_in != np.uint8
            else 0.0
        )

    def output(self, lam: float) -> np.ndarray:
        if self.quantize:
            return np.round(np.clip(self.x + lam * self.a_q, 0.0, PEAK))
        return np.clip(self.x + lam * self.a, 0.0, PEAK)

    def mse(self, lam: float) -> float:
        d = self.output(lam) - self.x
        return float(np.einsum("i,i->", d.ravel(), d.ravel())) / self.n

    def closed_form(self, target_mse: float) -> tuple[float, float]:
        """λ of the unrounded problem for `target_mse`, and the λ beyond which all is clipped.

        Each element moves by ``min(λ |a|, headroom)``, so ``N · MSE(λ) = Σ min(λ |a|, h)²``: a
        continuous, non-decreasing, piecewise-quadratic function with derivative
        ``2 λ Σ_{unclipped} a²``. Solved by Newton's method inside a shrinking bracket (bisection
        whenever a step leaves it) to 1e-12 of the target: an O(N) pass per step, no sort.
        """
        x = self.x.ravel()
        a = self.a.ravel()
        live = a != 0
        abs_a = np.abs(a[live])
        head = np.where(a[live] > 0, PEAK - x[live], x[live])
        t = head / abs_a
        lam_top = float(t.max()) if t.size else 0.0
        s = target_mse * self.n
        if t.size == 0 or s >= float(np.dot(head, head)):
            return lam_top, lam_top

        def f_and_slope(lam: float) -> tuple[float, float]:
            move = np.minimum(lam * abs_a, head)
            free = t > lam
            return float(np.dot(move, move)), 2.0 * lam * float(np.dot(abs_a[free], abs_a[free]))

        # Without clipping MSE(λ) = λ² mean(a²): its root is a lower bound of the solution.
        lo, hi = math.sqrt(s / float(np.dot(abs_a, abs_a))), lam_top
        lam = lo
        for _ in range(100):
            f, slope = f_and_slope(lam)
            if abs(f - s) <= 1e-12 * s:
                break
            if f < s:
                lo = lam
            else:
                hi = lam
            step = lam + (s - f) / slope if slope > 0 else -1.0
            lam = step if lo < step < hi else 0.5 * (lo + hi)
            if hi - lo <= 1e-15 * hi:
                break
        return lam, lam_top


def inject(
    image: np.ndarray,
    jnd: np.ndarray,
    *,
    psnr: float | None = None,
    mse: float | None = None,
    scale: float | None = None,
    seed: int = 0,
    quantize: bool = True,
    signs: SignMode = "per_channel",
    tol_db: float = DEFAULT_TOL_DB,
) -> InjectionResult:
    """Injects ±JND noise at a target PSNR/MSE (eq. (7) of ACoL-JND, eq. (13) of hmJND).

    ``distorted = clip(image + λ · R · jnd, 0, 255)``, rounded to uint8 when `quantize`, with λ
    solved so that the MSE of the *final* output against `image` matches the target within
    `tol_db` (the MSE is monotone non-decreasing in λ; see the module docstring). ACoL-JND
    compares models at ``psnr=26.06``, hmJND-Net at ``mse=100``.

    Args:
        image: uint8 or float 0..255 image, ``HxW``, ``HxWx1`` or RGB ``HxWx3``.
        jnd: JND map in 0..255 pixel units, ``HxW``, ``HxWx1`` (broadcast to every channel) or
            ``HxWx3``; finite and >= 0.
        psnr: target PSNR in dB (peak 255).
        mse: target mean squared error in squared 0..255 units.
        scale: a fixed λ instead of a target (no solving).
        seed: seed of the ±1 matrix R (:func:`random_signs`).
        quantize: round the output to uint8 (what a saved image holds) and solve λ on the
            rounded output; False returns float32 and solves the unrounded problem exactly.
        signs: ``"per_channel"`` (independent signs per pixel and channel, default) or
            ``"shared"`` (one sign per pixel for all channels).
        tol_db: accepted distance to the target in dB; a target that rounding cannot meet this
            closely raises :class:`InjectionError`.

    Returns:
        :class:`InjectionResult` with the image, λ, the achieved MSE and PSNR, the seed.

    Raises:
        InjectionError: (a ValueError) not exactly one of psnr/mse/scale; shapes that do not
            fit; NaN/Inf/negative values; an all-zero JND map with a non-zero target; a target
            beyond the largest MSE that full clipping reaches (the message reports it).

    Example:
        >>> res = inject(image, jnd, psnr=26.06, seed=0)
        >>> round(res.psnr, 2)
        26.06
    """
    given = [name for name, v in (("psnr", psnr), ("mse", mse), ("scale", scale)) if v is not None]
    if len(given) != 1:
        got = f" (got {', '.join(given)})" if given else ""
        raise InjectionError(f"give exactly one of psnr=, mse= or scale={got}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise InjectionError(f"seed must be a non-negative integer, got {seed!r}")
    if not (isinstance(tol_db, (int, float)) and tol_db > 0):
        raise InjectionError(f"tol_db must be a positive number, got {tol_db!r}")
    img, j = _check_inputs(image, jnd)
    r = random_signs(img.shape, seed=seed, signs=signs)
    if r.ndim == 3 and j.ndim == 2:
        j = j[..., None]
    inj = _Injector(img, j, r, quantize, seed)

    if scale is not None:
        if not (math.isfinite(scale) and scale >= 0):
            raise InjectionError(f"scale must be finite and >= 0, got {scale!r}")
        lam = float(scale)
    else:
        if psnr is not None:
            if not (math.isfinite(psnr) and psnr > 0):
                raise InjectionError(f"psnr must be a finite number of dB > 0, got {psnr!r}")
            target = mse_from_psnr(psnr)
        else:
            if not (math.isfinite(mse) and mse > 0):
                raise InjectionError(f"mse must be finite and > 0, got {mse!r}")
            target = float(mse)
        lam = _solve(inj, target, tol_db, asked="psnr" if psnr is not None else "mse")

    out = inj.output(lam)
    out = out.astype(np.uint8) if quantize else out.astype(np.float32)
    diff = out.astype(np.float64) - inj.x
    got = float(np.einsum("i,i->", diff.ravel(), diff.ravel())) / inj.n
    return InjectionResult(
        image=out, scale=lam, mse=got, psnr=psnr_from_mse(got), seed=int(seed), signs=signs
    )


def _db(mse: float, target: float) -> float:
    """Distance in dB between two MSEs (the PSNR error)."""
    if mse <= 0:
        return math.inf
    return abs(10.0 * math.log10(mse / target))


def _describe(target: float, asked: str) -> str:
    return f"PSNR {psnr_from_mse(target):.4f} dB" if asked == "psnr" else f"MSE {target:.6g}"


def _solve(inj: _Injector, target: float, tol_db: float, asked: str) -> float:
    if not np.any(inj.a):
        raise InjectionError(
            f"the JND map is zero everywhere: no scale λ reaches {_describe(target, asked)}"
        )
    lam0, lam_top = inj.closed_form(target)
    lam_top = lam_top * (1.0 + 1e-6) + 1e-9  # every live element clipped beyond this λ
    top = inj.mse(lam_top)
    if top < target and _db(top, target) > tol_db:
        raise InjectionError(
            f"{_describe(target, asked)} is out of reach: even full clipping gives at most "
            f"MSE {top:.6g} (PSNR {psnr_from_mse(top):.4f} dB) for this image and JND map"
        )
    if inj.base > target and _db(inj.base, target) > tol_db:
        raise InjectionError(
            f"{_describe(target, asked)} is out of reach: rounding the float image to uint8 "
            f"alone gives MSE {inj.base:.6g}; pass quantize=False"
        )
    if not inj.quantize:
        return float(min(lam0, lam_top))  # exact up to floating point

    # Rounded output: a step function of λ. Bracket around the closed-form guess, then narrow.
    lo, hi = 0.0, lam_top
    m0 = inj.mse(lam0)
    if m0 < target:
        lo, step = lam0, 1.01
        while True:
            cand = min(lo * step, lam_top)
            mc = inj.mse(cand)
            if mc >= target or cand >= lam_top:
                hi = cand
                break
            lo, step = cand, step * step
    else:
        hi, step = lam0, 1.01
        while hi > 0:
            cand = hi / step
            if inj.mse(cand) < target:
                lo = cand
                break
            hi, step = cand, step * step
            if hi < 1e-300:
                hi = 0.0
    m_lo, m_hi = inj.mse(lo), inj.mse(hi)
    fine = tol_db / 50.0
    for it in range(200):
        if min(_db(m_lo, target), _db(m_hi, target)) <= fine or hi - lo <= 1e-13 * max(hi, 1e-300):
            break
        # Interpolate (the MSE is locally smooth at image scale), bisect every third step or
        # when the interpolated point falls outside the middle 98 % of the bracket.
        mid = 0.5 * (lo + hi)
        if it % 3 != 2 and m_hi > m_lo:
            guess = lo + (target - m_lo) / (m_hi - m_lo) * (hi - lo)
            if lo + 0.01 * (hi - lo) < guess < hi - 0.01 * (hi - lo):
                mid = guess
        m_mid = inj.mse(mid)
        if m_mid < target:
            lo, m_lo = mid, m_mid
        else:
            hi, m_hi = mid, m_mid
    lam, got = (lo, m_lo) if _db(m_lo, target) <= _db(m_hi, target) else (hi, m_hi)
    if _db(got, target) > tol_db:
        raise InjectionError(
            f"{_describe(target, asked)} cannot be met within {tol_db} dB after rounding to "
            f"uint8: the nearest reachable values are MSE {m_lo:.6g} and {m_hi:.6g} (the image "
            "is too small or the target too low for 1-level steps); pass quantize=False"
        )
    return float(lam)
