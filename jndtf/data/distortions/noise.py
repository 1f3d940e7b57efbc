"""TID2008 types 1-7, the noise group: Gaussian, colour, correlated, masked, high-frequency,
impulse and quantization noise."""

from __future__ import annotations

import cv2
import numpy as np

from jndtf.data.distortions._common import _blur, _level_index, _luma, _unit_rms

_SIGMA = (4.0, 6.0, 9.0, 13.0, 18.0)


def additive_gaussian_noise(x, level, rng):
    return x + _SIGMA[_level_index(level)] * rng.standard_normal(x.shape)


_RGB2YCC = np.array(
    [[0.299, 0.587, 0.114], [-0.168736, -0.331264, 0.5], [0.5, -0.418688, -0.081312]]
)
_YCC2RGB = np.linalg.inv(_RGB2YCC)


def colour_noise(x, level, rng):
    s = _SIGMA[_level_index(level)]
    scale = np.array([s / 3.0, 1.5 * s, 1.5 * s])
    ycc = x @ _RGB2YCC.T + rng.standard_normal(x.shape) * scale
    return ycc @ _YCC2RGB.T


def spatially_correlated_noise(x, level, rng):
    n = _blur(rng.standard_normal(x.shape), 1.2)
    return x + _SIGMA[_level_index(level)] * _unit_rms(n)


def masked_noise(x, level, rng):
    y = _luma(x)
    mean = cv2.blur(y, (5, 5), borderType=cv2.BORDER_REFLECT)
    var = cv2.blur(y * y, (5, 5), borderType=cv2.BORDER_REFLECT) - mean * mean
    activity = np.sqrt(np.maximum(var, 0.0)) + 1.0
    n = rng.standard_normal(x.shape) * activity[..., None]
    return x + _SIGMA[_level_index(level)] * _unit_rms(n)


def high_frequency_noise(x, level, rng):
    w = rng.standard_normal(x.shape)
    return x + _SIGMA[_level_index(level)] * _unit_rms(w - _blur(w, 1.0))


_IMPULSE_P = (0.005, 0.01, 0.02, 0.04, 0.08)


def impulse_noise(x, level, rng):
    u = rng.random(x.shape)
    salt = rng.random(x.shape) < 0.5
    hit = u < _IMPULSE_P[_level_index(level)]
    return np.where(hit, np.where(salt, 255.0, 0.0), x)


_QSTEP = (8.0, 12.0, 18.0, 26.0, 36.0)


def quantization_noise(x, level, rng):
    q = _QSTEP[_level_index(level)]
    return np.floor(x / q) * q + q / 2.0
