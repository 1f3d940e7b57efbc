"""The registry of the 17 types (TID2008 order) and their distortion groups (CD-MMF)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from jndtf.data.distortions._common import Distortion
from jndtf.data.distortions.blur_compression import gaussian_blur, image_denoising, jpeg, jpeg2000
from jndtf.data.distortions.noise import (
    additive_gaussian_noise,
    colour_noise,
    high_frequency_noise,
    impulse_noise,
    masked_noise,
    quantization_noise,
    spatially_correlated_noise,
)
from jndtf.data.distortions.other import (
    block_distortion,
    contrast_change,
    mean_shift,
    pattern_noise,
)
from jndtf.data.distortions.transmission import (
    jpeg2000_transmission_errors,
    jpeg_transmission_errors,
)

DISTORTIONS: dict[str, Distortion] = {
    d.name: d
    for d in (
        Distortion(
            "additive_gaussian_noise", 1, "Additive Gaussian noise", additive_gaussian_noise
        ),
        Distortion(
            "colour_noise", 2, "Additive noise in color components (more intensive)", colour_noise
        ),
        Distortion(
            "spatially_correlated_noise",
            3,
            "Spatially correlated noise",
            spatially_correlated_noise,
        ),
        Distortion("masked_noise", 4, "Masked noise", masked_noise),
        Distortion("high_frequency_noise", 5, "High frequency noise", high_frequency_noise),
        Distortion("impulse_noise", 6, "Impulse noise", impulse_noise),
        Distortion("quantization_noise", 7, "Quantization noise", quantization_noise),
        Distortion("gaussian_blur", 8, "Gaussian blur", gaussian_blur),
        Distortion("image_denoising", 9, "Image denoising", image_denoising),
        Distortion("jpeg", 10, "JPEG compression", jpeg),
        Distortion("jpeg2000", 11, "JPEG2000 compression", jpeg2000),
        Distortion(
            "jpeg_transmission_errors", 12, "JPEG transmission errors", jpeg_transmission_errors
        ),
        Distortion(
            "jpeg2000_transmission_errors",
            13,
            "JPEG2000 transmission errors",
            jpeg2000_transmission_errors,
        ),
        Distortion("pattern_noise", 14, "Non eccentricity pattern noise", pattern_noise),
        Distortion(
            "block_distortion",
            15,
            "Local block-wise distortions of different intensity",
            block_distortion,
        ),
        Distortion("mean_shift", 16, "Mean shift (intensity shift)", mean_shift),
        Distortion("contrast_change", 17, "Contrast change", contrast_change),
    )
}

#: The 17 names in TID2008 order.
NAMES: tuple[str, ...] = tuple(DISTORTIONS)

#: Five groups after Liu, Lin & Kuo 2013 (CD-MMF), in the order of the classifier's outputs.
DEFAULT_GROUPS: dict[str, tuple[str, ...]] = {
    "noise": NAMES[0:7],
    "blur": NAMES[7:9],
    "compression": NAMES[9:11],
    "transmission": NAMES[11:13],
    "other": NAMES[13:17],
}


def check_groups(groups: Mapping[str, Sequence[str]] | None = None) -> dict[str, tuple[str, ...]]:
    """Validates a group mapping (``None`` -> :data:`DEFAULT_GROUPS`): every one of the 17 types
    in exactly one group, no unknown names, no empty group.

    Raises:
        ValueError: naming the missing, repeated or unknown types.
    """
    if groups is None:
        return dict(DEFAULT_GROUPS)
    out = {str(g): tuple(members) for g, members in groups.items()}
    seen: list[str] = [m for members in out.values() for m in members]
    unknown = sorted(set(seen) - set(NAMES))
    missing = [n for n in NAMES if n not in seen]
    repeated = sorted({m for m in seen if seen.count(m) > 1})
    empty = [g for g, members in out.items() if not members]
    if unknown or missing or repeated or empty or len(out) < 2:
        raise ValueError(
            "invalid distortion groups: "
            + "; ".join(
                f"{what}: {', '.join(v)}"
                for what, v in (
                    ("unknown types", unknown),
                    ("missing types", missing),
                    ("in more than one group", repeated),
                    ("empty groups", empty),
                )
                if v
            )
            + ("" if len(out) >= 2 else "need at least two groups")
        )
    return out


def group_of(name: str, groups: Mapping[str, Sequence[str]] | None = None) -> str:
    """The group of distortion `name` under `groups` (default: the five CD-MMF groups)."""
    for g, members in check_groups(groups).items():
        if name in members:
            return g
    raise KeyError(f"unknown distortion {name!r}; known: {', '.join(NAMES)}")


def group_index(name: str, groups: Mapping[str, Sequence[str]] | None = None) -> int:
    """Index of :func:`group_of` in the mapping's order (the classifier's output index)."""
    checked = check_groups(groups)
    return list(checked).index(group_of(name, checked))
