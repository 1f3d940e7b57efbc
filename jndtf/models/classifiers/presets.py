"""Named configurations of the four CAM classifiers of DMV-JND-NET (issue #11).

The full presets are the sizes to train on CIFAR-10 for the issue's accuracy targets (AlexNet
>= 75 %, VGG >= 85 %, ResNet and DenseNet >= 88 %), following published CIFAR configurations:

- ``alexnet``: AlexNet's five convs, widths 64-192-384-256-256 (Krizhevsky et al. 2012), kernels
  5-5-3-3-3 for 32x32, batch norm, dropout 0.5 before the head;
- ``vgg``: VGG-16 with batch norm (the 13 convs of the CIFAR variant), pool4/pool5 removed for
  the CAM (Zhou et al. 2016 remove pool5: a 4x4 CAM at 32x32);
- ``resnet``: ResNet-20 (He et al. 2016, Sec. 4.2, 91.25 % on CIFAR-10 with option-A shortcuts;
  here option B, 1x1 projections);
- ``densenet``: DenseNet-BC L=100, k=12 (Huang et al. 2017, 95.5 % on C10+).

The ``*_tiny`` presets use the same layers at a few channels, for the tests. Pure Python (no
Keras import): registers every preset in :mod:`jndtf.models.registry` as family
``"classifiers"``, output kind ``"classifier"`` (RGB 0..1 in, 10 CIFAR-10 logits out).
"""

from __future__ import annotations

import functools
from types import MappingProxyType

_P = MappingProxyType

PRESETS = _P(
    {
        "alexnet": _P(
            {
                "arch": "alexnet",
                "widths": (64, 192, 384, 256, 256),
                "kernels": (5, 5, 3, 3, 3),
                "pool_after": (0, 1),
                "dropout": 0.5,
                "num_classes": 10,
                "description": "AlexNet-CAM CIFAR-10 classifier (5 convs 64-192-384-256-256)",
            }
        ),
        "vgg": _P(
            {
                "arch": "vgg",
                "stages": ((64, 64), (128, 128), (256, 256, 256), (512, 512, 512), (512, 512, 512)),
                "pool_after": (0, 1, 2),
                "dropout": 0.5,
                "num_classes": 10,
                "description": "VGG16-CAM CIFAR-10 classifier (13 convs, batch norm)",
            }
        ),
        "resnet": _P(
            {
                "arch": "resnet",
                "stem_filters": 16,
                "stage_filters": (16, 32, 64),
                "blocks_per_stage": 3,
                "dropout": 0.0,
                "num_classes": 10,
                "description": "ResNet20-CAM CIFAR-10 classifier (He et al. 2016)",
            }
        ),
        "densenet": _P(
            {
                "arch": "densenet",
                "growth_rate": 12,
                "layers_per_block": 16,
                "blocks": 3,
                "bottleneck": 4,
                "compression": 0.5,
                "dropout": 0.0,
                "num_classes": 10,
                "description": "DenseNet-BC-100 (k=12)-CAM CIFAR-10 classifier (Huang et al. 2017)",
            }
        ),
        # CPU-sized presets: the same four designs at the width/depth a 2-core CPU trains in
        # minutes per epoch (the full sizes above take 2-23 min per CIFAR-10 epoch there; the
        # shipped classifiers are these, see jndtf/weights/dmv/README.md)
        "alexnet_small": _P(
            {
                "arch": "alexnet",
                "widths": (32, 96, 192, 128, 128),
                "kernels": (5, 5, 3, 3, 3),
                "pool_after": (0, 1),
                "dropout": 0.5,
                "num_classes": 10,
                "description": "AlexNet-CAM CIFAR-10 classifier, half width (32-96-192-128-128)",
            }
        ),
        "vgg_small": _P(
            {
                "arch": "vgg",
                "stages": ((32, 32), (64, 64), (128, 128), (256, 256)),
                "pool_after": (0, 1, 2),
                "dropout": 0.3,
                "num_classes": 10,
                "description": "VGG-CAM CIFAR-10 classifier, 8 convs 32..256 (VGG-11-like)",
            }
        ),
        "densenet_small": _P(
            {
                "arch": "densenet",
                "growth_rate": 12,
                "layers_per_block": 4,
                "blocks": 3,
                "bottleneck": 4,
                "compression": 0.5,
                "dropout": 0.0,
                "num_classes": 10,
                "description": "DenseNet-BC-28 (k=12)-CAM CIFAR-10 classifier",
            }
        ),
        "alexnet_tiny": _P(
            {
                "arch": "alexnet",
                "widths": (8, 12, 16, 12, 12),
                "kernels": (5, 5, 3, 3, 3),
                "pool_after": (0, 1),
                "dropout": 0.5,
                "num_classes": 10,
                "description": "AlexNet-CAM classifier, test width",
            }
        ),
        "vgg_tiny": _P(
            {
                "arch": "vgg",
                "stages": ((8,), (12,), (16, 16)),
                "pool_after": (0, 1),
                "dropout": 0.5,
                "num_classes": 10,
                "description": "VGG-CAM classifier, test width",
            }
        ),
        "resnet_tiny": _P(
            {
                "arch": "resnet",
                "stem_filters": 8,
                "stage_filters": (8, 16),
                "blocks_per_stage": 1,
                "dropout": 0.0,
                "num_classes": 10,
                "description": "ResNet-CAM classifier, test width",
            }
        ),
        "densenet_tiny": _P(
            {
                "arch": "densenet",
                "growth_rate": 4,
                "layers_per_block": 2,
                "blocks": 2,
                "bottleneck": 4,
                "compression": 0.5,
                "dropout": 0.0,
                "num_classes": 10,
                "description": "DenseNet-BC-CAM classifier, test width",
            }
        ),
    }
)

#: The four classifiers whose CAMs DMV-JND-NET merges (eq. (2)), in the paper's order.
FULL_PRESETS = ("alexnet", "vgg", "resnet", "densenet")
#: The CPU-sized four (``resnet`` is ResNet-20, small already): what the package ships.
SMALL_PRESETS = ("alexnet_small", "vgg_small", "resnet", "densenet_small")
TINY_PRESETS = ("alexnet_tiny", "vgg_tiny", "resnet_tiny", "densenet_tiny")


def get_preset(name: str) -> dict:
    """A copy of preset `name`'s settings; KeyError lists the known presets."""
    try:
        return dict(PRESETS[name])
    except KeyError:
        raise KeyError(
            f"unknown CAM classifier preset {name!r}; available: {', '.join(PRESETS)}"
        ) from None


def macs_per_pixel(preset: str | dict = "resnet") -> float:
    """Conv multiply-accumulates per input pixel (H, W multiples of the total stride).

    ``k*k*c_in*c_out`` per output pixel of every conv of
    :func:`jndtf.models.classifiers.network.build_cam_classifier`, weighted by its output
    resolution relative to the input. Batch norm, pooling and the Dense head (once per image)
    are left out. Per 32x32 image multiply by 1024.

    Example:
        >>> round(macs_per_pixel("resnet") * 1024 / 1e6, 1)   # ResNet-20: ~41 M MACs
        40.6
    """
    cfg = get_preset(preset) if isinstance(preset, str) else dict(preset)
    arch, total, area = cfg["arch"], 0.0, 1.0
    if arch == "alexnet":
        cin = 3
        for i, (f, k) in enumerate(zip(cfg["widths"], cfg["kernels"], strict=True)):
            total += k * k * cin * f * area
            cin = f
            if i in cfg["pool_after"]:
                area /= 4
    elif arch == "vgg":
        cin = 3
        for s, widths in enumerate(cfg["stages"]):
            for f in widths:
                total += 9 * cin * f * area
                cin = f
            if s in cfg["pool_after"]:
                area /= 4
    elif arch == "resnet":
        cin = int(cfg["stem_filters"])
        total += 27 * cin
        for s, f in enumerate(cfg["stage_filters"]):
            for b in range(int(cfg["blocks_per_stage"])):
                if s > 0 and b == 0:
                    area /= 4
                total += (9 * cin * f + 9 * f * f) * area
                if (s > 0 and b == 0) or cin != f:
                    total += cin * f * area
                cin = f
    elif arch == "densenet":
        k, mid = int(cfg["growth_rate"]), int(cfg["bottleneck"]) * int(cfg["growth_rate"])
        c = 2 * k
        total += 27 * c
        for b in range(int(cfg["blocks"])):
            for _ in range(int(cfg["layers_per_block"])):
                total += (c * mid + 9 * mid * k) * area
                c += k
            if b < int(cfg["blocks"]) - 1:
                cout = int(c * float(cfg["compression"]))
                total += c * cout * area
                c, area = cout, area / 4
    else:
        raise ValueError(f"unknown arch {arch!r}")
    return float(total)


def _build(preset: str, **kwargs):
    from jndtf.models.classifiers.network import build_cam_classifier

    return build_cam_classifier(preset, **kwargs)


#: ``jndtf train classifiers``: settings, run and CLI glue of :mod:`jndtf.train.classifiers`.
TRAIN = {
    "settings": "jndtf.train.classifiers.config:ClassifiersTrainConfig",
    "run": "jndtf.train.classifiers:train_classifiers",
    "help": "Train the four CAM classifiers of DMV-JND (AlexNet, VGG, ResNet, DenseNet) on a "
    "labelled set (CIFAR-10 tree, .tar.gz or batches); one .keras per architecture + "
    "classifiers.json with per-epoch validation accuracy. Resume is exact.",
    "report": "jndtf.train.classifiers.config:report",
    "checkpoint": "jndtf.train.classifiers.config:checkpoint_file",
    "progress": "jndtf.train.classifiers.config:progress_fields",
    "interrupted": "jndtf.train._state:TrainingInterrupted",
}


def _register() -> None:
    from jndtf.models.registry import ExportHooks, TrainEntry, register_model

    train = TrainEntry(**TRAIN)
    for name, cfg in PRESETS.items():
        register_model(
            name,
            "classifiers",
            functools.partial(_build, name),
            input_channels=3,
            normalization="unit",
            output_channels=int(cfg["num_classes"]),
            jnd_units="CIFAR-10 class logits (not a JND map)",
            description=str(cfg["description"]),
            output_kind="classifier",
            modalities=("rgb",),
            # `jndtf export resnet --int8`: the edge's machine-vision classifier
            export=ExportHooks(),
            train=train,
            macs=f"{__name__}:macs_per_pixel",
            overwrite=True,
        )


_register()

# the unseen fifth classifier of `jndtf eval dmv --unseen` registers itself in its own module
from jndtf.models.classifiers import mobilenet as _mobilenet  # noqa: E402, F401
