"""What the IQA metric tests share: float64 helpers, input cases and common checks.

The fixtures (golden pairs, JAX numbers) are in tests/iqa_fixtures.py. Every tolerance stays in
tests/iqa_tolerances.py; the checks here take theirs as an argument.
"""

from __future__ import annotations

import numpy as np

#: The TID2013 pairs of ../shared/data/iqa-golden/ (reference_values.csv has one column each).
GOLDEN_IMAGES = ("I03", "I04", "I06")

#: The weights MATLAB's ``rgb2gray`` uses (the first row of ``inv`` of its YIQ->RGB matrix),
#: written here independently of jndtf.iqa._ops for the float64 transcriptions.
RGB2GRAY_MATLAB = np.array([0.298936021293775, 0.587043074451121, 0.114020904255103])


def to_np(t) -> np.ndarray:
    """A backend tensor (or array) as float64 numpy."""
    from keras import ops

    return np.asarray(ops.convert_to_numpy(t), dtype=np.float64)


def noisy(img: np.ndarray, sigma: float, seed: int = 0) -> np.ndarray:
    """`img` plus white Gaussian noise of std `sigma`, clipped to 0..255, float32."""
    rng = np.random.default_rng(seed)
    return np.clip(img + rng.normal(0, sigma, img.shape), 0, 255).astype(np.float32)


def grey64(rgb_uint8: np.ndarray) -> np.ndarray:
    """MATLAB ``rgb2gray`` on uint8 (returns uint8: rounded), as float64 HxW."""
    return np.floor(rgb_uint8.astype(np.float64) @ RGB2GRAY_MATLAB + 0.5)


#: Image pairs (x, y) built from a float32 photo at which every gradient must be finite.
GRADIENT_CASES = {
    "identical": lambda img: (img, img),
    "zeros": lambda img: (np.zeros_like(img), np.zeros_like(img)),
    "saturated": lambda img: (np.full_like(img, 255.0), np.full_like(img, 255.0)),
    "zeros_vs_white": lambda img: (np.zeros_like(img), np.full_like(img, 255.0)),
    "photo_vs_zeros": lambda img: (img, np.zeros_like(img)),
}
#: ... and a photo next to a white image (checked for VIF, VIFp and NLPD).
GRADIENT_CASES_WITH_WHITE = {
    **GRADIENT_CASES,
    "photo_vs_white": lambda img: (img, np.full_like(img, 255.0)),
}


def assert_gradients_finite(fn, x0: np.ndarray, y0: np.ndarray, label) -> None:
    """The score of ``fn(x, y)`` and its gradients with respect to both inputs are finite."""
    import tensorflow as tf

    x, y = tf.constant(x0), tf.constant(y0)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch([x, y])
        v = tf.reduce_sum(fn(x, y))
    assert np.isfinite(to_np(v)).all(), label
    for g in tape.gradient(v, [x, y]):
        assert g is not None and np.isfinite(to_np(g)).all(), label


def assert_data_range_invariance(fn, photo: np.ndarray, rtol: float, *, uint8: bool) -> None:
    """x / 255 with data_range=1 scores as x; with `uint8`, rounded grey levels agree as well."""
    x = photo[None].astype(np.float32)
    y = noisy(photo, 10)[None]
    np.testing.assert_allclose(
        to_np(fn(x / 255.0, y / 255.0, data_range=1.0)), to_np(fn(x, y)), rtol=rtol
    )
    if uint8:
        # uint8 input is rounded to grey levels (rgb2gray on uint8), with either data range.
        xq, yq = photo[None], np.round(y).astype(np.uint8)
        np.testing.assert_allclose(
            to_np(fn(xq, yq)),
            to_np(fn(xq / 255.0, yq / 255.0, data_range=1.0, quantize_grey=True)),
            rtol=rtol,
        )


def assert_float32_under_mixed_precision(fn, photo: np.ndarray) -> None:
    """Under the mixed_float16 policy the metric still computes (and returns) float32."""
    import keras
    from keras import ops

    x = photo[None].astype(np.float16)
    y = noisy(photo, 10)[None].round().astype(np.float16)  # integers are exact in float16
    want = to_np(fn(x.astype(np.float32), y.astype(np.float32)))
    old = keras.mixed_precision.dtype_policy()
    keras.mixed_precision.set_dtype_policy("mixed_float16")
    try:
        got = fn(ops.convert_to_tensor(x), ops.convert_to_tensor(y))
    finally:
        keras.mixed_precision.set_dtype_policy(old)
    assert "float32" in str(got.dtype), got.dtype
    np.testing.assert_allclose(to_np(got), want, rtol=1e-6)


def assert_batch_equals_single(fns, photo: np.ndarray, rtol: float) -> None:
    """A batch of two gives one score per image, the second as when scored alone."""
    x = np.stack([photo, photo[::-1]]).astype(np.float32)
    y = np.stack([noisy(photo, 5), noisy(photo[::-1], 30)])
    for fn in fns:
        batch = to_np(fn(x, y))
        assert batch.shape == (2,), batch.shape
        np.testing.assert_allclose(batch[1], to_np(fn(x[1:], y[1:]))[0], rtol=rtol)
