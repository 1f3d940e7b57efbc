"""A-IQA: the adaptive IQA loss of Jin et al. 2022, L1 of ACoL-JND (eq. (4): ``L1 = Q(x_o, x_d)``).

Jin et al. ("Full RGB Just Noticeable Difference (JND) Modelling", arXiv:2203.00629) note that no
single IQA metric does well on every distortion type; following the multi-method fusion of Liu,
Lin & Kuo (IEEE TIP 2013), which splits TID2008's 17 types into five groups, they train a
distortion-type classifier (ResNet) and assess each image with "the best combination consisting
of three IQAs" of its group. ACoL-JND (Yu et al. 2024) uses that module as its loss L1.

jndtf's version:

- **Routing.** The classifier (:mod:`jndtf.models.aiqa.network`) sees (x_o, x_d) and gives
  group probabilities; their argmax is the route. It is a constant for the optimizer
  (``stop_gradient``; an argmax has no gradient anyway). ``routing="batch"`` (default) routes the
  whole batch by the argmax of the batch-mean probabilities and evaluates only that group's three
  metrics (``keras.ops.switch``); ``routing="sample"`` routes every image by its own argmax and so
  evaluates every group's metrics.
- **Score.** ``Q = Σ_k w_k · loss_k(x_o, x_d)`` over the group's metrics, each metric turned
  into a loss as :class:`jndtf.losses.IQALoss` does (``1 − score`` when higher is better, the
  score itself otherwise), default weights 1/3. Differentiable w.r.t. x_d through the metrics.
- **Metric combinations.** Neither ACoL-JND nor the text available here reproduces Jin et al.'s
  table of group -> three metrics, so :data:`DEFAULT_GROUP_METRICS` is jndtf's choice, made from
  what each metric is known to be good at on TID2008-like distortions (documented below) and
  restricted to metrics whose losses stay in ~0..1. Pass ``group_metrics=`` to use another.

=============  ==========================  =================================================
group          metrics (weight 1/3 each)   why
=============  ==========================  =================================================
noise          vifp, nlpd, gmsd            information fidelity and normalized-Laplacian
                                           distances track additive/impulse noise; GMSD
                                           catches noise on edges
blur           vifp, ms_ssim, fsim         loss of detail: information fidelity, multi-scale
                                           structure, phase congruency
compression    fsim, gmsd, ms_ssim         blocking/ringing: gradient- and structure-based
transmission   ms_ssim, fsim, gmsd         local, strong structural damage
other          vifp, ms_ssim, ssim         mean shift / contrast change keep structure: the
                                           luminance and contrast terms of (MS-)SSIM and VIF's
                                           sensitivity to contrast gain
=============  ==========================  =================================================

MS-SSIM has five scales and needs images of at least 176 x 176 pixels (ACoL-JND trains on
176 x 176 patches); for smaller images give a table without it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import keras
from keras import ops

from jndtf.losses.iqa_loss import resolve_metric

#: jndtf's default group -> ((metric, weight), ...) table; see the module docstring.
DEFAULT_GROUP_METRICS: dict[str, tuple[tuple[str, float], ...]] = {
    "noise": (("vifp", 1 / 3), ("nlpd", 1 / 3), ("gmsd", 1 / 3)),
    "blur": (("vifp", 1 / 3), ("ms_ssim", 1 / 3), ("fsim", 1 / 3)),
    "compression": (("fsim", 1 / 3), ("gmsd", 1 / 3), ("ms_ssim", 1 / 3)),
    "transmission": (("ms_ssim", 1 / 3), ("fsim", 1 / 3), ("gmsd", 1 / 3)),
    "other": (("vifp", 1 / 3), ("ms_ssim", 1 / 3), ("ssim", 1 / 3)),
}

ROUTINGS = ("batch", "sample")


def default_classifier_path() -> Path:
    """The shipped classifier: ``jndtf/weights/aiqa/aiqa_resnet_tiny.keras``."""
    return Path(__file__).resolve().parents[2] / "weights" / "aiqa" / "aiqa_resnet_tiny.keras"


def manifest_path(model_path: str | Path) -> Path:
    """The JSON manifest beside a classifier file (``NAME.keras`` -> ``NAME.json``)."""
    return Path(model_path).with_suffix(".json")


def load_classifier(path: str | Path | None = None) -> keras.Model:
    """Loads a distortion-group classifier (``None``: the shipped one), frozen.

    Raises:
        FileNotFoundError: no such file (for the default: the weights were not installed; train
            them with ``jndtf train aiqa --data DIR``).
    """
    import jndtf.models.aiqa.network  # noqa: F401  (registers DistortionFeatures)

    p = Path(path) if path is not None else default_classifier_path()
    if not p.is_file():
        raise FileNotFoundError(
            f"A-IQA classifier not found at {p}; train one with `jndtf train aiqa --data DIR` "
            "and pass its path"
        )
    model = keras.saving.load_model(p, compile=False)
    model.trainable = False
    return model


def normalize_group_metrics(
    group_metrics: Mapping[str, Sequence] | None = None,
) -> dict[str, tuple[tuple[str, float], ...]]:
    """Validates a group -> metrics table; entries may be names or ``(name, weight)`` pairs.

    Names alone get equal weights summing to 1. Raises KeyError for unknown or unimplemented
    metrics, ValueError for empty groups or negative weights.
    """
    table = DEFAULT_GROUP_METRICS if group_metrics is None else group_metrics
    out: dict[str, tuple[tuple[str, float], ...]] = {}
    for group, entries in table.items():
        entries = list(entries)
        if not entries:
            raise ValueError(f"A-IQA group {group!r} has no metrics")
        pairs = []
        for e in entries:
            if isinstance(e, str):
                pairs.append((e, 1.0 / len(entries)))
            else:
                name, weight = e
                if not float(weight) >= 0.0:
                    raise ValueError(f"A-IQA group {group!r}: weight of {name!r} must be >= 0")
                pairs.append((str(name), float(weight)))
        for name, _ in pairs:
            resolve_metric(name)
        out[str(group)] = tuple(pairs)
    if len(out) < 2:
        raise ValueError("A-IQA needs at least two groups")
    return out


def _group_loss(metrics, fns, ref, dist, data_range):
    total = None
    for (_name, weight), (fn, higher) in zip(metrics, fns, strict=True):
        score = ops.cast(fn(ref, dist, data_range=data_range), "float32")
        term = weight * (1.0 - score if higher else score)
        total = term if total is None else total + term
    return total


def route(classifier, reference, distorted, *, data_range: float = 255.0, per_sample=False):
    """The A-IQA route: argmax group of the classifier, as a constant.

    Returns:
        int32 scalar (``per_sample=False``: argmax of the batch-mean probabilities) or ``(N,)``.
    """
    scale = 255.0 / data_range
    logits = classifier({"reference": reference * scale, "distorted": distorted * scale})
    probs = ops.stop_gradient(ops.softmax(ops.cast(logits, "float32"), axis=-1))
    if per_sample:
        return ops.cast(ops.argmax(probs, axis=-1), "int32")
    return ops.cast(ops.argmax(ops.mean(probs, axis=0)), "int32")


def aiqa_loss(
    reference,
    distorted,
    classifier,
    *,
    group_metrics: Mapping[str, Sequence] | None = None,
    routing: str = "batch",
    data_range: float = 255.0,
):
    """A-IQA loss per image, ``(N,)``: the routed group's weighted sum of metric losses.

    Args:
        reference: x_o, NHWC RGB, 0..`data_range`.
        distorted: x_d, same shape.
        classifier: a distortion-group classifier (:func:`load_classifier`).
        group_metrics: group -> metrics table in the classifier's output order (default:
            :data:`DEFAULT_GROUP_METRICS`).
        routing: ``"batch"`` or ``"sample"`` (module docstring).
        data_range: peak of the pixel scale.

    Example:
        >>> clf = load_classifier()
        >>> aiqa_loss(x_o, x_o + jnd, clf).shape
        TensorShape([N])
    """
    table = normalize_group_metrics(group_metrics)
    fns = {g: [resolve_metric(name) for name, _ in m] for g, m in table.items()}
    return _aiqa(reference, distorted, classifier, table, fns, routing, data_range)


def _aiqa(reference, distorted, classifier, table, fns, routing, data_range):
    if routing not in ROUTINGS:
        raise ValueError(f"unknown routing {routing!r}; choose from {ROUTINGS}")
    ref = ops.cast(ops.convert_to_tensor(reference), "float32")
    dist = ops.cast(ops.convert_to_tensor(distorted), "float32")
    if len(ref.shape) != 4 or tuple(ref.shape[1:]) != tuple(dist.shape[1:]):
        raise ValueError(
            f"A-IQA: expected two NHWC batches of the same shape, got {tuple(ref.shape)} and "
            f"{tuple(dist.shape)}"
        )
    n_out = classifier.output_shape[-1]
    if n_out != len(table):
        raise ValueError(
            f"A-IQA: the classifier has {n_out} outputs but the metric table has {len(table)} "
            f"groups ({', '.join(table)})"
        )
    groups = list(table)
    if routing == "sample":
        index = route(classifier, ref, dist, data_range=data_range, per_sample=True)
        per_group = ops.stack(
            [_group_loss(table[g], fns[g], ref, dist, data_range) for g in groups], axis=-1
        )
        onehot = ops.one_hot(index, len(groups), dtype="float32")
        return ops.sum(per_group * onehot, axis=-1)
    index = route(classifier, ref, dist, data_range=data_range)
    branches = [(lambda r, d, g=g: _group_loss(table[g], fns[g], r, d, data_range)) for g in groups]
    return ops.switch(index, branches, ref, dist)


@keras.saving.register_keras_serializable(package="jndtf")
class AIQALoss(keras.losses.Loss):
    """A-IQA (Jin et al. 2022) as a Keras loss: ``y_true`` = x_o, ``y_pred`` = x_d.

    Args:
        classifier: path of a ``.keras`` classifier made by ``jndtf train aiqa`` (None: the
            shipped ``jndtf/weights/aiqa/aiqa_resnet_tiny.keras``) or a loaded
            :class:`keras.Model` (then the loss cannot be serialized: save the model and pass its
            path).
        group_metrics: group -> metric names or ``(name, weight)`` pairs, in the classifier's
            output order (default :data:`DEFAULT_GROUP_METRICS`). When the classifier's manifest
            lists its groups, the names must match.
        routing: ``"batch"`` (default) or ``"sample"``.
        data_range: peak of the pixel scale of x_o, x_d.
        **kwargs: `name`, `reduction`, `dtype` of :class:`keras.losses.Loss`.

    Example:
        >>> loss = AIQALoss(group_metrics={"noise": ["ssim", "gmsd", "psnr"], ...})
        >>> value = loss(x_o, x_d)
    """

    def __init__(
        self,
        classifier=None,
        group_metrics: Mapping[str, Sequence] | None = None,
        routing: str = "batch",
        data_range: float = 255.0,
        **kwargs,
    ):
        kwargs.setdefault("name", "aiqa_loss")
        super().__init__(**kwargs)
        if routing not in ROUTINGS:
            raise ValueError(f"unknown routing {routing!r}; choose from {ROUTINGS}")
        if not float(data_range) > 0:
            raise ValueError(f"data_range must be > 0, got {data_range}")
        self.routing = routing
        self.data_range = float(data_range)
        self.group_metrics = normalize_group_metrics(group_metrics)
        self._in_memory = isinstance(classifier, keras.Model)
        if self._in_memory:
            self.classifier_path = None
            self.classifier = classifier
            self.classifier.trainable = False
        else:
            self.classifier_path = None if classifier is None else str(classifier)
            self.classifier = load_classifier(classifier)
            self._check_manifest_groups(classifier)
        self._fns = {
            g: [resolve_metric(name) for name, _ in m] for g, m in self.group_metrics.items()
        }

    def _check_manifest_groups(self, classifier):
        path = manifest_path(classifier if classifier is not None else default_classifier_path())
        if not path.is_file():
            return
        groups = json.loads(path.read_text()).get("group_order")
        if groups is not None and list(groups) != list(self.group_metrics):
            raise ValueError(
                f"A-IQA: the classifier was trained on groups {groups}, but the metric table "
                f"names {list(self.group_metrics)}; give group_metrics in that order"
            )

    def call(self, y_true, y_pred):
        return _aiqa(
            y_true,
            y_pred,
            self.classifier,
            self.group_metrics,
            self._fns,
            self.routing,
            self.data_range,
        )

    def get_config(self):
        if self._in_memory:
            raise ValueError(
                "AIQALoss built from an in-memory classifier cannot be serialized: save the "
                "classifier as .keras and pass its path"
            )
        config = super().get_config()
        config.update(
            {
                "classifier": self.classifier_path,
                "group_metrics": {g: [list(p) for p in m] for g, m in self.group_metrics.items()},
                "routing": self.routing,
                "data_range": self.data_range,
            }
        )
        return config
