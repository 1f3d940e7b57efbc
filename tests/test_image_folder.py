"""jndtf.data.image_folder: crops equal the shared input builder's output, seeded sampling,
the on-disk prior cache (hits, invalidation, atomic writes) and the config errors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

import jndtf
import jndtf.data.image_folder as image_folder
from jndtf.data.image_folder import ImageFolderDataset, cache_key, input_settings
from jndtf.io import load_image, save_image
from jndtf.models.inputs import ACOL_PRIORS, model_input

CROP = 40


def small_photos(folder: Path, sizes=((72, 96), (64, 64), (80, 70), (66, 88), (90, 64))):
    """The bundled sample photos shrunk to a few dozen pixels (fast priors), as PNG."""
    from jndtf.samples import SAMPLE_NAMES, sample_images

    folder.mkdir(parents=True, exist_ok=True)
    images = sample_images()
    paths = []
    for name, (h, w) in zip(SAMPLE_NAMES, sizes, strict=True):
        img = cv2.resize(images[name], (w, h), interpolation=cv2.INTER_AREA)
        path = folder / f"{name}.png"
        save_image(path, img)
        paths.append(path)
    return paths


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    folder = tmp_path_factory.mktemp("photos")
    small_photos(folder)
    return folder


@pytest.fixture
def cache(tmp_path):
    return tmp_path / "cache"


def test_batch_is_the_input_builder_cropped(photos, cache):
    ds = ImageFolderDataset(photos, crop_size=CROP, batch_size=4, seed=3, cache_dir=cache)
    x, rgb = ds.batch(epoch=1, step=0)
    assert x.shape == (4, CROP, CROP, 6) and x.dtype == np.float32
    assert rgb.shape == (4, CROP, CROP, 3) and rgb.dtype == np.float32
    for k, (i, top, left) in enumerate(ds.crop_plan(1, 0)):
        image = load_image(ds.records[i].path)
        full = model_input(image, ACOL_PRIORS)  # priors of the whole image, then the crop
        np.testing.assert_array_equal(x[k], full[top : top + CROP, left : left + CROP])
        np.testing.assert_array_equal(rgb[k], image[top : top + CROP, left : left + CROP])
    assert ds.batch_files(1, 0) == [ds.records[i].name for i, _, _ in ds.crop_plan(1, 0)]


def test_sampling_is_a_function_of_seed_epoch_step(photos, cache):
    a = ImageFolderDataset(photos, crop_size=CROP, batch_size=2, seed=0, cache_dir=cache)
    b = ImageFolderDataset(photos, crop_size=CROP, batch_size=2, seed=0, cache_dir=cache)
    c = ImageFolderDataset(photos, crop_size=CROP, batch_size=2, seed=1, cache_dir=cache)
    assert len(a) == 3  # ceil(5 images / 2)
    for epoch, step in ((0, 0), (0, 2), (4, 1)):
        for u, v in zip(a.batch(epoch, step), b.batch(epoch, step), strict=True):
            np.testing.assert_array_equal(u, v)
    # out of order access gives the same batch as in order access
    np.testing.assert_array_equal(b.batch(0, 2)[0], a.batch(0, 2)[0])
    assert a.crop_plan(0, 0) != a.crop_plan(1, 0)
    assert a.crop_plan(0, 0) != c.crop_plan(0, 0)
    # every image once per epoch before any repeats
    for epoch in range(3):
        first = [i for s in range(3) for i, _, _ in a.crop_plan(epoch, s)][:5]
        assert sorted(first) == list(range(5))
    with pytest.raises(IndexError):
        a.batch(0, 3)


def test_samples_and_keras_dataset_follow_the_batches(photos, cache):
    ds = ImageFolderDataset(photos, crop_size=CROP, batch_size=2, seed=0, cache_dir=cache)
    pairs = list(ds.samples(epoch=2, start_step=1))
    assert len(pairs) == 4
    x, rgb = ds.batch(2, 1)
    np.testing.assert_array_equal(pairs[1][0], x[1])
    np.testing.assert_array_equal(pairs[1][1], rgb[1])
    pytest.importorskip("keras")
    kd = ds.keras_dataset(epoch=2, start_step=1)
    assert len(kd) == 2
    np.testing.assert_array_equal(kd[1][0], ds.batch(2, 2)[0])


def test_cache_is_reused_and_invalidated(photos, cache, tmp_path, monkeypatch):
    import jndtf.models.inputs as inputs_mod

    computed = []

    def counting_model_input(image, *args, **kwargs):
        computed.append(image.shape)
        return model_input(image, *args, **kwargs)

    monkeypatch.setattr(inputs_mod, "model_input", counting_model_input)
    ImageFolderDataset(photos, crop_size=CROP, batch_size=2, cache_dir=cache)
    assert len(computed) == 5
    entries = sorted(p.name for p in cache.iterdir())
    assert len(entries) == 10 and not [p for p in entries if p.startswith(".")]  # no temp files

    ImageFolderDataset(photos, crop_size=CROP, batch_size=2, cache_dir=cache).batch(0, 0)
    assert len(computed) == 5  # all five read from the cache

    # a changed file gets a new key; the other four entries are reused
    folder = tmp_path / "changed"
    folder.mkdir()
    for p in photos.iterdir():
        (folder / p.name).write_bytes(p.read_bytes())
    img = load_image(folder / "coffee.png")
    img[0, 0] = 255 - img[0, 0]
    save_image(folder / "coffee.png", img)
    ImageFolderDataset(folder, crop_size=CROP, batch_size=2, cache_dir=cache)
    assert len(computed) == 6

    # other priors, another jndtf version: other keys
    settings = input_settings(ACOL_PRIORS)
    digest = "0" * 64
    assert cache_key(digest, settings) != cache_key(digest, input_settings(("saliency",)))
    monkeypatch.setattr(jndtf, "__version__", "999.0")
    assert cache_key(digest, settings) != cache_key(digest, input_settings(ACOL_PRIORS))


def test_a_damaged_cache_entry_is_recomputed(photos, cache):
    ds = ImageFolderDataset(photos, crop_size=CROP, batch_size=2, cache_dir=cache)
    expected = ds.batch(0, 0)[0]
    damaged = ds.records[0].input_file
    damaged.write_bytes(damaged.read_bytes()[:100])
    again = ImageFolderDataset(photos, crop_size=CROP, batch_size=2, cache_dir=cache)
    np.testing.assert_array_equal(again.batch(0, 0)[0], expected)


def test_max_images_is_a_seeded_subset(photos, cache):
    a = ImageFolderDataset(photos, crop_size=CROP, batch_size=2, max_images=3, cache_dir=cache)
    b = ImageFolderDataset(photos, crop_size=CROP, batch_size=2, max_images=3, cache_dir=cache)
    assert a.num_images == 3 and [r.name for r in a.records] == [r.name for r in b.records]
    info = a.describe()
    assert info["num_images"] == 3 and len(info["images"]) == 3
    assert all(len(e["sha256"]) == 64 for e in info["images"])


def test_errors_name_the_problem(photos, cache, tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        ImageFolderDataset(tmp_path / "nowhere", cache_dir=cache)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="holds no images"):
        ImageFolderDataset(tmp_path / "empty", cache_dir=cache)
    with pytest.raises(ValueError, match=r"smallest image, chelsea.png \(64x64\)"):
        ImageFolderDataset(photos, crop_size=65, cache_dir=cache)
    with pytest.raises(ValueError, match="batch_size must be an integer >= 1"):
        ImageFolderDataset(photos, crop_size=CROP, batch_size=0, cache_dir=cache)
    with pytest.raises(ValueError, match="crop_size must be an integer >= 32"):
        ImageFolderDataset(photos, crop_size=16, cache_dir=cache)
    with pytest.raises(ValueError, match="unsupported prior"):
        ImageFolderDataset(photos, crop_size=CROP, priors=("nope",), cache_dir=cache)


def test_default_cache_dir_honours_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("JNDTF_CACHE_DIR", str(tmp_path / "c"))
    assert image_folder.default_cache_dir() == tmp_path / "c"
    monkeypatch.delenv("JNDTF_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "x"))
    assert image_folder.default_cache_dir() == tmp_path / "x" / "jndtf" / "inputs"


def test_imports_neither_tensorflow_nor_keras():
    code = (
        "import sys, jndtf.data.image_folder\n"
        "bad = [m for m in ('tensorflow', 'keras', 'jax') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    subprocess.run([sys.executable, "-c", code], check=True, env=env)


def test_prior_overrides_change_the_cache_key_and_need_a_fingerprint():
    class Net:
        fingerprint = "abc"

        def __call__(self, rgb):
            return np.zeros(rgb.shape[:2], np.float32)

    plain = input_settings(("saliency",))
    with_net = input_settings(("saliency",), overrides={"saliency": Net()})
    assert with_net["overrides"] == {"saliency": "abc"} and "overrides" not in plain
    with pytest.raises(ValueError, match="fingerprint"):
        input_settings(("saliency",), overrides={"saliency": lambda rgb: rgb[..., 0]})
