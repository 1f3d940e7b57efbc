"""Named configurations of the ACoL-JND student (issue #14, point 4) and its MAC count.

Pure Python (no Keras import): the model registry imports this module to list the models.

The student is a small U-shaped net for the edge: the full ACoL-JND costs ~87k MAC per pixel;
the student stays under 5k so that int8 LiteRT maps 640x360 frames at full resolution, every
frame. It takes the teacher's input (RGB + f_pm, f_cm, f_va of eq. (1), built by the same numpy
builder, so the edge runtime needs nothing new) and outputs a 3-channel map in pixel values,
like ACoL-JND's ``JndOutput`` (``min(255·|x|, 255)``). Layers, resolutions as a fraction of the
input side (``1/2**level``); every conv is followed by a ReLU except ``out``:

=========  ======  ======  ==========  =============================================
layer      kernel  level   channels    what
=========  ======  ======  ==========  =============================================
stem       3x3     0       6 -> 8      full resolution
down1      3x3/2   1       8 -> 16     stride 2
mid1       3x3     1       16 -> 16
down2      3x3/2   2       16 -> 32
mid2       3x3     2       32 -> 32
down3      3x3/2   3       32 -> 48
deep1-2    3x3     3       48 -> 48    receptive field ~±40 px (ACoL-JND's ~±52)
fuse2      1x1     2       80 -> 32    [mid2, resize(deep2)]
refine2    3x3     2       32 -> 32
fuse1      1x1     1       48 -> 16    [mid1, resize(refine2)]
refine1    3x3     1       16 -> 16
out        3x3     1       16 -> 3     then bilinear to H x W, ``min(255·|x|, 255)``
=========  ======  ======  ==========  =============================================

Every 3x3 conv pads by reflection (a flat image gives a flat map to the edge, as the teacher's
``--padding reflect``); resizes are :class:`jndtf.models.layers.ResizeLike` (dynamic H, W in
TFLite). Ops: CONV_2D, MIRROR_PAD, RELU, RESIZE_BILINEAR, CONCATENATION, ABS, MUL, MINIMUM,
all int8 in LiteRT.

Example:
    >>> round(macs_per_pixel("acol_student"))
    4636
"""

from __future__ import annotations

import functools
from types import MappingProxyType

#: The teacher's priors (ACoL-JND, eq. (1)): the student's input is the teacher's.
PRIORS = ("pattern_masking", "contrast_masking", "saliency")

PRESETS = MappingProxyType(
    {
        "acol_student": MappingProxyType(
            {
                "priors": PRIORS,
                "stem": 8,
                # (down conv + convs) per level 1, 2, 3: channels and convs after the down conv
                "encoder": (16, 32, 48),
                "encoder_convs": (1, 1, 2),
                # fuse (1x1) + refine (3x3) at levels 2 and 1
                "decoder": (32, 16),
                "output_channels": 3,
                "jnd_scale": 255.0,
                "max_jnd": 255.0,
                "description": "ACoL-JND student for the edge (~4.6k MAC/px, distilled from "
                "acol; same RGB + PM/CM/VA input)",
            }
        ),
    }
)

DEFAULT_PRESET = "acol_student"

#: Named width multipliers (``tiny`` for quick experiments); the output keeps 3 channels.
WIDTHS = MappingProxyType({"default": 1.0, "tiny": 0.5})


def get_preset(name: str) -> dict:
    """A copy of preset `name`'s settings; KeyError lists the known presets."""
    try:
        return dict(PRESETS[name])
    except KeyError:
        raise KeyError(
            f"unknown ACoL student preset {name!r}; available: {', '.join(PRESETS)}"
        ) from None


def _multiplier(width: float | str) -> float:
    if isinstance(width, str):
        if width not in WIDTHS:
            raise ValueError(f"unknown width {width!r}; use a number or one of {list(WIDTHS)}")
        return WIDTHS[width]
    w = float(width)
    if not w > 0:
        raise ValueError(f"width multiplier must be > 0, got {width}")
    return w


def layer_table(preset: str | dict = DEFAULT_PRESET, width: float | str = 1.0) -> list[tuple]:
    """The convs of the student as ``(name, kernel, c_in, c_out, level)``, in build order.

    ``level`` is the output resolution: ``ceil(H / 2**level)`` rows. The builder
    (:func:`jndtf.models.acol_student.network.build_acol_student`) makes exactly these convs,
    named ``name``.
    """
    cfg = get_preset(preset) if isinstance(preset, str) else dict(preset)
    w = _multiplier(width)

    def c(n):
        return max(1, round(int(n) * w))

    enc, convs, dec = cfg["encoder"], cfg["encoder_convs"], cfg["decoder"]
    if len(enc) != 3 or len(convs) != 3 or len(dec) != 2:
        raise ValueError(
            f"the student has 3 encoder levels and 2 decoder levels; got encoder {enc}, "
            f"encoder_convs {convs}, decoder {dec}"
        )
    cin = 3 + len(cfg["priors"])
    table = [("stem", 3, cin, c(cfg["stem"]), 0)]
    cin = c(cfg["stem"])
    skips = {}
    for level, (f, n) in enumerate(zip(enc, convs, strict=True), start=1):
        table.append((f"down{level}", 3, cin, c(f), level))
        cin = c(f)
        for i in range(n):
            if level == 3:
                name = f"deep{i + 1}"
            else:
                name = f"mid{level}" if n == 1 else f"mid{level}_{i + 1}"
            table.append((name, 3, cin, c(f), level))
        skips[level] = c(f)
    for level, f in zip((2, 1), dec, strict=True):
        table.append((f"fuse{level}", 1, skips[level] + cin, c(f), level))
        table.append((f"refine{level}", 3, c(f), c(f), level))
        cin = c(f)
    table.append(("out", 3, cin, int(cfg["output_channels"]), 1))
    return table


def layer_macs(kernel: int, c_in: int, c_out: int, level: int) -> float:
    """MAC per input pixel of one conv: ``k·k·c_in·c_out`` per output pixel, times the output's
    share of the input's pixels (``4**-level``)."""
    return kernel * kernel * c_in * c_out / 4.0**level


def macs_per_pixel(preset: str | dict = DEFAULT_PRESET, width: float | str = 1.0) -> float:
    """Multiply-accumulates of the convolutions per input pixel (H, W multiples of 8).

    Resizes, padding, activations and the output step are left out (a few operations per
    element, as in :func:`jndtf.models.acol.presets.macs_per_pixel`).

    Example:
        >>> macs_per_pixel("acol_student")          # the teacher: 87147
        4636.0
    """
    return float(sum(layer_macs(k, ci, co, lv) for _, k, ci, co, lv in layer_table(preset, width)))


def _build(preset: str, **kwargs):
    from jndtf.models.acol_student.network import build_acol_student

    return build_acol_student(preset, **kwargs)


TRAIN = {
    "settings": "jndtf.train.acol_student.config:StudentTrainConfig",
    "run": "jndtf.train.acol_student:train_acol_student",
    "help": "Distil the ACoL-JND student from a teacher (--teacher acol): teacher maps once per "
    "image at full resolution (cached), random crops, L1 (+ gradient term), Adam; "
    "validation map PSNR per epoch. Checkpoints every epoch; --resume continues.",
    "report": "jndtf.train.acol_student.config:report",
    "checkpoint": "jndtf.train.acol_student.config:checkpoint_file",
}


def _register() -> None:
    from jndtf.models.registry import ExportHooks, TrainEntry, register_model

    train = TrainEntry(**TRAIN)
    for name, cfg in PRESETS.items():
        register_model(
            name,
            "acol_student",
            functools.partial(_build, name),
            input_channels=3 + len(cfg["priors"]),
            priors=cfg["priors"],
            normalization="unit",
            output_channels=int(cfg["output_channels"]),
            description=cfg["description"],
            output_kind="jnd_map",
            train=train,
            export=ExportHooks(),
            macs=f"{__name__}:macs_per_pixel",
            overwrite=True,
        )


_register()
