"""One suite every registered model passes (issue #10, point 5): output shape and dtype,
a finite non-zero gradient for every trainable weight, config and ``.keras`` round trips,
LiteRT fp32 export parity, JAX = TF.

What each family runs:

- The fast checks (shape, gradients, round trips) run for every name of
  :func:`jndtf.models.registry.available_models` at its registered (default) width, on 32x32
  and 45x33 inputs: a few seconds per model on 2 cores.
- The slow checks (LiteRT conversion ~2-7 s, a JAX subprocess ~5-10 s of import and XLA
  compile) run per *family* on the fewest of its registered models that together hold every
  layer class the family uses (``_cover``: the model with most layer classes first, the one
  with fewer parameters on a tie; poolnet_tiny for saliency, aiqa_resnet_tiny for aiqa,
  bl_acol for acol, whose complementary branch adds the threshold and erase layers bl lacks).
  The other presets differ only in widths and depths of the same layers, so one conversion
  and one JAX load per layer set exercise every op at a fraction of the time (the CI budget of
  #10.5 is ~2 min for this file).

Which checks apply follows the spec's ``output_kind`` (model_harness.is_map): an input-sized
map gets (N, H, W, output_channels) and dynamic H, W in LiteRT; any other output (a score, a
class vector) gets its batch size, dtype, finiteness and the same parity checks at one size.

Tolerances (why each is what it is):

- ``ATOL_SAME = 0``: the same Keras graph on the same weights (``.keras`` save/load) is
  bit-identical on one machine.
- ``RTOL_LITERT = 1e-4`` of the output's largest magnitude (at least 1e-3, so an output near
  zero everywhere is not held to below float32 resolution of the activations that made it):
  the converter folds batch norm into the convs and reorders float32 sums; each reordering
  moves a result by a few float32 ulps (1.2e-7 relative) and ~20 layers compound that. The
  same holds on AVX2 and AVX-512 kernels. Measured here (untrained weights, outputs up to
  ~1.3 for bl_acol and 0.5 for poolnet_tiny): 1.2e-7 and 8.9e-8 absolute.
- ``RTOL_JAX = 1e-4`` of the same scale: XLA's conv kernels sum in another order than TF's
  (same ulp argument). Measured here: 2.6e-6 (bl_acol), 1.2e-7 (poolnet_tiny), 1.9e-9
  (aiqa_resnet_tiny, logits up to 8e-3).
"""

from __future__ import annotations

import functools
import json

import model_harness as H
import numpy as np
import pytest
from litert_parity import dynamic_parity

pytestmark = pytest.mark.tf

keras = pytest.importorskip("keras")
tf = pytest.importorskip("tensorflow")

from jndtf.models.registry import (  # noqa: E402
    OUTPUT_KINDS,
    available_models,
    get_model_spec,
)

ATOL_SAME = 0.0
RTOL_LITERT = 1e-4
RTOL_JAX = 1e-4

#: (H, W) of the fast checks: a multiple of 32 and a size that is not one of 2, 4 or 32.
SIZES = ((32, 32), (45, 33))

MODELS = available_models()
FAMILIES = sorted({get_model_spec(n).family for n in MODELS})


@functools.cache
def _model(name: str):
    keras.utils.set_random_seed(7)
    return get_model_spec(name).build()


@functools.cache
def _cover(family: str) -> tuple[str, ...]:
    """The fewest of the family's models that together use every layer class it uses: greedy,
    most new classes first, fewer parameters (then the name) on a tie."""
    kinds = {n: H.layer_classes(_model(n)) for n in available_models(family=family)}
    todo, chosen = set().union(*kinds.values()), []
    while todo:
        best = max(kinds, key=lambda n: (len(kinds[n] & todo), -_model(n).count_params(), n))
        chosen.append(best)
        todo -= kinds.pop(best)
    return tuple(chosen)


@pytest.fixture(scope="module", autouse=True)
def _free_models():
    yield
    _model.cache_clear()  # the built models live for this file only
    _cover.cache_clear()


def _scale(y: np.ndarray) -> float:
    return max(1e-3, float(np.abs(y).max()))


# --------------------------------------------------------------------------- every model


@pytest.mark.parametrize("name", MODELS)
def test_output_shape_and_dtype(name):
    spec = get_model_spec(name)
    assert spec.output_kind in OUTPUT_KINDS, f"{name}: output_kind {spec.output_kind!r}"
    model = _model(name)
    if H.is_map(spec):
        assert len(model.inputs) == 1, f"{name}: a map model takes one input"
        assert tuple(model.input_shape) == (None, None, None, spec.input_channels), name
        assert tuple(model.output_shape) == (None, None, None, spec.output_channels), name
    elif spec.output_kind == "classifier":  # logits, one per class
        assert tuple(model.output_shape) == (None, spec.output_channels), name
    for (h, w), n in zip(SIZES, (2, 1), strict=True):
        y = H.first(model(H.make_inputs(model, h, w, n=n, seed=h)))
        assert y.dtype == np.float32, f"{name}: output dtype {y.dtype}"
        assert np.isfinite(y).all(), f"{name}: non-finite output at {h}x{w}"
        if H.is_map(spec):
            assert y.shape == (n, h, w, spec.output_channels), f"{name} at {h}x{w}: {y.shape}"
        elif spec.output_kind == "classifier":
            assert y.shape == (n, spec.output_channels), f"{name} at {h}x{w}: {y.shape}"
        else:
            assert y.shape[0] == n, f"{name} at {h}x{w}: {y.shape}"
        lo, hi = H.KIND_RANGES.get(spec.output_kind, (-np.inf, np.inf))
        assert lo <= y.min() and y.max() <= hi, f"{name}: {y.min()}..{y.max()} not in {lo}..{hi}"


@pytest.mark.parametrize("name", MODELS)
def test_every_trainable_weight_gets_a_finite_nonzero_gradient(name):
    model = _model(name)
    assert model.trainable_weights, f"{name} has no trainable weights"
    missing, bad = H.gradient_report(model, H.make_inputs(model, 32, 32, n=2, seed=3))
    assert not missing, f"{name}: no gradient reaches {missing}"
    assert not bad, f"{name}: non-finite or all-zero gradient for {bad}"


@pytest.mark.parametrize("name", MODELS)
def test_spec_input_builder_feeds_the_model(name):
    # the numpy input of spec.make_input (what training and the edge feed) fits every input
    spec, model = get_model_spec(name), _model(name)
    rgb = (np.random.default_rng(11).random((32, 40, 3)) * 255).astype(np.uint8)
    x = spec.make_input(rgb, **H.modality_inputs(spec, *rgb.shape[:2]))
    assert x.shape == (32, 40, spec.input_channels) and x.dtype == np.float32, (name, x.shape)
    assert np.isfinite(x).all(), name
    for tensor in model.inputs:
        assert int(tensor.shape[-1]) == spec.input_channels, f"{name}: input {tensor.name}"
    feed = {t.name: x[None] for t in model.inputs} if len(model.inputs) > 1 else x[None]
    y = H.first(model(feed))
    assert np.isfinite(y).all() and y.shape[0] == 1, name


@pytest.mark.parametrize("name", MODELS)
def test_spec_macs_match_the_conv_layers(name):
    spec = get_model_spec(name)
    want = spec.macs_per_pixel()
    if want is None:
        pytest.skip(f"{name}: the spec declares no MAC count")
    model = _model(name)
    # 256x256: a multiple of every stride and pool window of the registered families, so each
    # downsampled grid is exact, as the families' counts assume
    got = H.conv_macs_per_pixel(model, H.make_inputs(model, 256, 256, seed=2))
    # 1e-3: a family may leave out convs that run once per image (PoolNet's global-average
    # branch: one 1x1 conv on a 1x1 map), ~1e-5 of the total at 256x256
    assert want == pytest.approx(got, rel=1e-3), f"{name}: spec {want} vs layers {got}"


@pytest.mark.parametrize("name", MODELS)
def test_config_round_trip(name):
    # keras-hub's run_serialization_test: get_config -> from_config -> the same config
    model = _model(name)
    dump = functools.partial(json.dumps, sort_keys=True, default=str)
    config = dump(model.get_config())  # a string: from_config consumes the dict it is given
    clone = type(model).from_config(model.get_config())
    assert dump(clone.get_config()) == config, name
    assert clone.count_params() == model.count_params(), name


@pytest.mark.parametrize("name", MODELS)
def test_keras_file_round_trip_is_identical(name, tmp_path):
    model = _model(name)
    path = tmp_path / f"{name}.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    x = H.make_inputs(model, 29, 45, n=2, seed=5)
    np.testing.assert_allclose(
        H.first(loaded(x)), H.first(model(x)), atol=ATOL_SAME, rtol=0, err_msg=name
    )


# --------------------------------------------------------------------------- once per family


@pytest.mark.slow
@pytest.mark.parametrize("family", FAMILIES)
def test_litert_fp32_export_matches_keras(family, tmp_path):
    litert = pytest.importorskip(
        "ai_edge_litert.interpreter", reason='needs the [edge] extra: pip install "jndtf[edge]"'
    )
    for name in _cover(family):
        spec, model = get_model_spec(name), _model(name)
        if not spec.export.exportable:
            pytest.skip(f"{name}: the spec says the family is not exported (export.exportable)")
        blob = H.export_litert_fp32(model, tmp_path / name)
        interp = litert.Interpreter(model_content=blob, num_threads=1)
        if H.is_map(spec):
            signature = list(interp.get_input_details()[0]["shape_signature"])
            assert signature[0] in (-1, 1) and signature[1:] == [-1, -1, spec.input_channels], (
                f"{name}: input signature {signature}"
            )
            sizes = ((48, 64), (45, 33))  # dynamic H, W: two sizes through one interpreter

            def make(h, w, model=model):
                return H.make_inputs(model, h, w, n=1, seed=h)

            scale = max(_scale(H.first(model(make(h, w)))) for h, w in sizes)
            diffs = dynamic_parity(
                interp, model, sizes, make, spec.output_channels, RTOL_LITERT * scale
            )
        else:  # one size: a score or class vector has no H, W to vary
            x = H.make_inputs(model, 32, 32, n=1, seed=32)
            got, want = H.run_litert(interp, x), H.first(model(x))
            assert got.shape == want.shape, f"{name}: {got.shape} vs {want.shape}"
            diffs = {(32, 32): float(np.abs(got - want).max())}
            np.testing.assert_allclose(
                got, want, atol=RTOL_LITERT * _scale(want), rtol=0, err_msg=name
            )
        print(f"{name}: LiteRT fp32 vs Keras max abs diff {diffs}")


@pytest.mark.slow
@pytest.mark.parametrize("family", FAMILIES)
def test_jax_backend_gives_the_same_output(family, tmp_path):
    if not H.have_jax():
        pytest.skip("jax not installed (pip install jax)")
    for name in _cover(family):
        model = _model(name)
        path = tmp_path / f"{name}.keras"
        model.save(path)
        x = H.make_inputs(model, 27, 34, n=2, seed=9)
        got = H.run_in_jax(path, x, H.jndtf_modules(model), tmp_path)
        want = H.first(model(x))
        print(f"{name}: JAX vs TF max abs diff {float(np.abs(got - want).max())}")
        np.testing.assert_allclose(got, want, atol=RTOL_JAX * _scale(want), rtol=0, err_msg=name)
