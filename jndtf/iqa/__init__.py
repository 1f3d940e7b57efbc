"""Differentiable image-quality metrics in ``keras.ops`` (TensorFlow and JAX backends).

Every metric takes two NHWC batches in the 0..`data_range` scale and returns one score per image
(shape ``(N,)``); where the metric has a per-pixel map there is also ``<name>_map``. Metrics are
looked up by name so losses and the evaluation protocol can be configured with strings::

    from jndtf import iqa
    score = iqa.get("ssim")(ref, dist)        # (N,)
    iqa.info("gmsd").higher_is_better         # False

Importing this package needs the [train] extra (Keras); modules load lazily on first use.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable
from dataclasses import dataclass

from jndtf._deps import require_installed

require_installed("keras", "the IQA metrics")  # a missing [train] extra names its pip command


@dataclass(frozen=True)
class MetricInfo:
    """Where a metric lives and which way is better."""

    name: str
    module: str
    function: str
    higher_is_better: bool
    citation: str
    #: how an RGB pair is scored (the colour convention a report must state).
    colour: str = "grey: MATLAB rgb2gray"


_METRICS: dict[str, MetricInfo] = {
    m.name: m
    for m in (
        MetricInfo(
            "psnr",
            "jndtf.iqa.psnr",
            "psnr",
            True,
            "peak signal-to-noise ratio",
            "RGB: one MSE over R, G, B",
        ),
        MetricInfo(
            "ssim",
            "jndtf.iqa.ssim",
            "ssim",
            True,
            "Wang et al., IEEE TIP 2004",
            "grey: MATLAB rgb2gray; downsampled as ssim.m",
        ),
        MetricInfo("ms_ssim", "jndtf.iqa.msssim", "ms_ssim", True, "Wang et al., Asilomar 2003"),
        MetricInfo("gmsd", "jndtf.iqa.gmsd", "gmsd", False, "Xue et al., IEEE TIP 2014"),
        MetricInfo("nlpd", "jndtf.iqa.nlpd", "nlpd", False, "Laparra et al., HVEI 2016"),
        MetricInfo("vif", "jndtf.iqa.vif", "vif", True, "Sheikh & Bovik, IEEE TIP 2006"),
        MetricInfo("vifp", "jndtf.iqa.vifp", "vifp", True, "Sheikh & Bovik 2006, pixel domain"),
        MetricInfo(
            "fsim",
            "jndtf.iqa.fsim",
            "fsim",
            True,
            "Zhang et al., IEEE TIP 2011",
            "colour: FSIMc (YIQ)",
        ),
        MetricInfo(
            "mad",
            "jndtf.iqa.mad",
            "mad",
            False,
            "Larson & Chandler, JEI 2010",
            "grey: MATLAB rgb2gray (MAD_index.m)",
        ),
        MetricInfo(
            "mad_rgb",
            "jndtf.iqa.mad",
            "mad_rgb_mean",
            False,
            "Larson & Chandler, JEI 2010; IQA-PyTorch's channel mean",
            "RGB: mean over R, G, B of each channel's MAD (IQA-PyTorch, the papers' tables)",
        ),
        MetricInfo(
            "vsi",
            "jndtf.iqa.vsi",
            "vsi",
            True,
            "Zhang et al., IEEE TIP 2014",
            "colour: LMN + SDSP saliency on RGB",
        ),
    )
}


def available() -> list[str]:
    """Names of the metrics whose module is installed in this tree."""
    out = []
    for name, m in sorted(_METRICS.items()):
        if importlib.util.find_spec(m.module) is not None:
            out.append(name)
    return out


def info(name: str) -> MetricInfo:
    """The record of metric `name`; KeyError lists the known names."""
    try:
        return _METRICS[name]
    except KeyError:
        known = ", ".join(available())
        raise KeyError(f"unknown IQA metric {name!r}; available: {known}") from None


def get(name: str) -> Callable:
    """The score function of metric `name`: ``fn(x, y, data_range=255.0) -> (N,)``."""
    m = info(name)
    try:
        module = importlib.import_module(m.module)
    except ModuleNotFoundError as err:
        if err.name == m.module:
            raise KeyError(
                f"IQA metric {name!r} is not implemented in this version; available: "
                f"{', '.join(available())}"
            ) from None
        raise
    return getattr(module, m.function)
