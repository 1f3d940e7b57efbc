"""JND-bounded temporal filter for camera streams: hold what the eye would not see change.

Sensor noise on a still scene makes every frame differ a little, and an inter-frame encoder
(H.264) pays for each difference. With ``y`` the previous OUTPUT frame, ``x`` the new input and
``J`` its JND map, mode ``"hold"`` (the rule of issue 13)::

    y_t = y_{t-1}   where |x_t - y_{t-1}| <= s·J   (per pixel, or per block: all its pixels)
          x_t       elsewhere

and mode ``"clamp"`` keeps as much of the previous output as the bound allows:
``y_t = x_t + clip(y_{t-1} - x_t, -s·J, s·J)``. Either way ``|y_t - x_t| <= s·J`` for every pixel
of every frame (no drift: the bound is against the current input), ``s = 0`` gives the input.
``block = 16`` decides per 16x16 macroblock, so a still block repeats exactly (an H.264 skip).

Example:
    >>> f = TemporalFilter(1.0)
    >>> for frame, jnd in stream:
    ...     out = f(frame, jnd)
"""

from __future__ import annotations

import math

import numpy as np

#: The clip methods built on :class:`TemporalFilter`, by name: ``(mode, block)``. One table for
#: ``jndtf eval rd`` / ``jndtf compress`` (:mod:`jndtf.rd.protocol`) and ``jndtf stream``.
TEMPORAL_METHODS = {
    "temporal": ("hold", 1),
    "temporal-clamp": ("clamp", 1),
    "temporal-mb": ("hold", 16),
}


class TemporalFilter:
    """Stateful JND-bounded temporal filter (see module); ``reset()`` forgets the last frame."""

    def __init__(self, strength: float = 1.0, *, mode: str = "hold", block: int = 1):
        if not (isinstance(strength, (int, float)) and math.isfinite(strength) and strength >= 0):
            raise ValueError(f"strength must be a finite number >= 0, got {strength!r}")
        if mode not in ("hold", "clamp"):
            raise ValueError(f"mode must be 'hold' or 'clamp', got {mode!r}")
        if not isinstance(block, int) or block < 1:
            raise ValueError(f"block must be a positive integer, got {block!r}")
        self.strength, self.mode, self.block = float(strength), mode, block
        self._prev: np.ndarray | None = None
        self.frames = 0

    def reset(self) -> None:
        """Starts a new clip: the next frame passes through unchanged."""
        self._prev, self.frames = None, 0

    def __call__(self, frame: np.ndarray, jnd: np.ndarray) -> np.ndarray:
        """The filtered uint8 frame (``HxWx3`` or ``HxW``) for an input frame and its JND map."""
        x = np.asarray(frame)
        if x.dtype != np.uint8 or x.ndim not in (2, 3):
            raise ValueError(f"frame must be uint8 HxW or HxWxC, got {x.dtype} {np.shape(frame)}")
        j = np.asarray(jnd, dtype=np.float32)
        if j.ndim == 2 and x.ndim == 3:
            j = j[..., None]
        if j.shape[:2] != x.shape[:2] or (x.ndim == 3 and j.shape[2] not in (1, x.shape[2])):
            raise ValueError(f"JND map shape {j.shape} does not fit frame {x.shape}")
        if self._prev is not None and self._prev.shape != x.shape:
            raise ValueError(
                f"frame {self.frames} is {x.shape}, the previous was {self._prev.shape}: "
                "call reset() between clips of different sizes"
            )
        self.frames += 1
        if self._prev is None or self.strength == 0:
            self._prev = x.copy()
            return x.copy()
        bound = np.floor(self.strength * j + 1e-6)  # integer frames: integers within x ± s·J
        xf, pf = x.astype(np.float32), self._prev.astype(np.float32)
        if self.mode == "clamp":
            y = xf + np.clip(pf - xf, -bound, bound)
        else:
            still = np.abs(xf - pf) <= bound
            if still.ndim == 3:
                still = still.all(axis=2)
            if self.block > 1:
                still = _all_in_blocks(still, self.block)
            y = np.where(still[..., None] if x.ndim == 3 else still, pf, xf)
        out = y.astype(np.uint8)
        self._prev = out
        return out.copy()


def _all_in_blocks(mask: np.ndarray, block: int) -> np.ndarray:
    """Each pixel of `mask` set to whether every pixel of its ``block x block`` tile is set."""
    h, w = mask.shape
    hp, wp = -(-h // block) * block, -(-w // block) * block
    p = np.pad(mask, ((0, hp - h), (0, wp - w)), constant_values=True)
    tiles = p.reshape(hp // block, block, wp // block, block).all(axis=(1, 3))
    return np.repeat(np.repeat(tiles, block, axis=0), block, axis=1)[:h, :w]
