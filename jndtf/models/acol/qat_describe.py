"""The ACoL-JND network read off a trained Keras 3 model, as plain data for the QAT worker
(the family's ``qat_describe`` export hook, :class:`jndtf.models.registry.ExportHooks`).

The QAT worker runs in its own process with ``tf_keras`` (tfmot 0.8.1 rejects Keras 3 models,
DESIGN.md), so it never sees the Keras 3 model: the main process describes the network with
:func:`describe_acol` (layer widths, strides, LReLU slope, the complementary branch of §3.4, the
output step) and hands its weights over as numpy arrays
(:func:`jndtf.export.qat.architecture.weights_of`). The description is read from the model's
layers, not from a preset name, so any ``build_acol`` network (every preset, every width, any
override) is rebuilt exactly; a model that is not one is refused with the layer that does not
fit.

No TensorFlow import here: the functions only read layer attributes.

Example:
    >>> arch = describe_acol(learned.model)
    >>> arch["branch"]                     # [[filters, stride], ...] of branch A (and B)
    [[32, 1], [64, 2], [128, 1], [64, 2], [32, 1], [32, 1]]
"""

from __future__ import annotations

import re

#: Conv stacks of ``build_acol`` by layer-name prefix (network.py's ``_conv_stack``).
STACKS = ("cnn1", "branch_a", "branch_b", "cnn4")
#: Non-convolutional layers of ``build_acol`` by name and class.
OTHER_LAYERS = {
    "inputs": "InputLayer",
    "up1": "ResizeLike",
    "threshold": "MeanThresholdMask",
    "erase": "Erase",
    "stack": "Concatenate",
    "up2": "ResizeLike",
    "jnd": "JndOutput",
}
_CONV = re.compile(r"^(cnn1|branch_a|branch_b|cnn4)_(conv|lrelu|pad)(\d+)$")


class NotAnAcolNetwork(ValueError):
    """The model is not a network built by :func:`jndtf.models.acol.build_acol`."""


def _refuse(model, why: str) -> NotAnAcolNetwork:
    return NotAnAcolNetwork(
        f"QAT export supports ACoL-JND networks built by jndtf.models.acol.build_acol; model "
        f"{getattr(model, 'name', '?')!r}: {why}. Export it with PTQ ('tflite-int8') instead."
    )


def describe_acol(model) -> dict:
    """The architecture of an ACoL-JND Keras model as JSON-ready data.

    Args:
        model: a Keras 3 functional model from :func:`jndtf.models.acol.build_acol`.

    Returns:
        ``{"name", "channels", "kernel_size", "padding", "negative_slope", "cnn1", "branch", "cnn4",
        "complementary", "share_branches", "interpolation", "jnd"}``; the stacks are lists of
        ``[filters, stride]``, ``jnd`` holds ``JndOutput``'s ``activation``, ``scale`` and
        ``max_value``.

    Raises:
        NotAnAcolNetwork: an unknown layer, a conv that is not 3x3/'same'/linear/with bias, a
            LReLU slope that differs between layers, or a missing part.
    """
    convs: dict[str, dict[int, list[int]]] = {s: {} for s in STACKS}
    slopes, kernels, paddings, pads = set(), set(), set(), {}
    by_name = {}
    for layer in model.layers:
        cls = type(layer).__name__
        cfg = layer.get_config()
        by_name[layer.name] = layer
        m = _CONV.match(layer.name)
        if m:
            stack, kind, idx = m.group(1), m.group(2), int(m.group(3))
            if kind == "pad":
                if cls != "ReflectPad":
                    raise _refuse(model, f"layer {layer.name} is a {cls}, not a ReflectPad")
                pads[(stack, idx)] = int(cfg["pad"])
            elif kind == "conv":
                if cls != "Conv2D":
                    raise _refuse(model, f"layer {layer.name} is a {cls}, not a Conv2D")
                k = tuple(cfg["kernel_size"])
                sy, sx = (int(v) for v in cfg["strides"])
                paddings.add(cfg["padding"])
                ok = (
                    cfg["padding"] in ("same", "valid")
                    and cfg["activation"] == "linear"
                    and cfg["use_bias"]
                    and k[0] == k[1]
                    and sy == sx
                    and tuple(cfg.get("dilation_rate", (1, 1))) == (1, 1)
                    and int(cfg.get("groups", 1)) == 1
                )
                if not ok:
                    raise _refuse(model, f"conv {layer.name} differs from build_acol's ({cfg})")
                kernels.add(int(k[0]))
                convs[stack][idx] = [int(cfg["filters"]), sy]
            else:
                if cls != "LeakyReLU":
                    raise _refuse(model, f"layer {layer.name} is a {cls}, not a LeakyReLU")
                slopes.add(float(cfg.get("negative_slope", cfg.get("alpha", 0.3))))
        elif OTHER_LAYERS.get(layer.name) != cls:
            raise _refuse(model, f"unexpected layer {layer.name} ({cls})")
    if len(slopes) != 1 or len(kernels) != 1:
        raise _refuse(model, f"LReLU slopes {sorted(slopes)}, kernel sizes {sorted(kernels)}")
    # 'same' convs pad with zeros; 'valid' convs each follow a ReflectPad of (k - 1) / 2
    n_convs = sum(len(c) for c in convs.values())
    half = (next(iter(kernels)) - 1) // 2
    if paddings == {"same"} and not pads:
        padding = "zeros"
    elif paddings == {"valid"} and len(pads) == n_convs and set(pads.values()) == {half}:
        padding = "reflect"
    else:
        raise _refuse(
            model,
            f"conv paddings {sorted(paddings)} with {len(pads)} ReflectPad layers for "
            f"{n_convs} convs: neither zero padding nor one reflection pad of {half} per conv",
        )
    stacks = {}
    for s in STACKS:
        idx = sorted(convs[s])
        if idx != list(range(1, len(idx) + 1)):
            raise _refuse(model, f"stack {s} has convs numbered {idx}")
        stacks[s] = [convs[s][i] for i in idx]
    complementary = "up1" in by_name
    share = complementary and not stacks["branch_b"]
    if not stacks["cnn1"] or not stacks["branch_a"] or not stacks["cnn4"] or "jnd" not in by_name:
        raise _refuse(model, "CNN1, branch A, CNN4 or the 'jnd' output layer is missing")
    if complementary and not share and stacks["branch_b"] != stacks["branch_a"]:
        raise _refuse(model, "branches A and B have different widths")
    if not complementary and (stacks["branch_b"] or "erase" in by_name):
        raise _refuse(model, "a branch B or erase layer without Up1")
    jnd = by_name["jnd"].get_config()
    return {
        "name": str(model.name),
        "channels": int(model.inputs[0].shape[-1]),
        "kernel_size": kernels.pop(),
        "padding": padding,
        "negative_slope": slopes.pop(),
        "cnn1": stacks["cnn1"],
        "branch": stacks["branch_a"],
        "cnn4": stacks["cnn4"],
        "complementary": bool(complementary),
        "share_branches": bool(share),
        "interpolation": {
            k: by_name[k].get_config()["interpolation"] for k in ("up1", "up2") if k in by_name
        },
        "jnd": {
            "activation": jnd["activation"],
            "scale": float(jnd["scale"]),
            "max_value": None if jnd["max_value"] is None else float(jnd["max_value"]),
        },
    }


__all__ = ["OTHER_LAYERS", "STACKS", "NotAnAcolNetwork", "describe_acol"]
