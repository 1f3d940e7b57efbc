"""Random crops of a folder of images with their prior-guided network input (numpy only).

Any folder of photos (COCO's ``train2017``, the bundled samples, ...) becomes a seeded stream of
``(network input, original)`` crop pairs for the prior-guided JND models (ACoL-JND trains on
176 x 176 crops of 1000 COCO images, §3.4 of the ACoL-JND paper):

- **Input.** :func:`jndtf.models.inputs.model_input`, the function the evaluation and the edge
  runtime call, applied ONCE to each *whole* image; crops are cut from its result. So a crop's
  prior channels are the priors of the full picture at those pixels, exactly what a model sees
  when it runs on a full frame (the spectral-residual saliency is a global quantity: computed
  on the crop alone it would differ).
- **Cache.** The result is stored on disk as ``<key>.input.npy`` (float32 ``HxWxC``) and
  ``<key>.rgb.npy`` (uint8 ``HxWx3``), memory-mapped when read, where ``key`` hashes the image
  file's content (sha256), the prior names, the normalization and its constants, the jndtf
  version and the source code of :mod:`jndtf.priors` and :mod:`jndtf.models.inputs`; a change
  to any of them makes a new key (stale entries are never read). Files are written through a
  temporary file and a rename, so concurrent writers (two training workers) and a killed run
  leave only complete entries. Disk cost: ``H·W·(4·C + 3)`` bytes per image (~8.3 MB for a
  640 x 480 COCO image with ACoL-JND's 6 channels).
- **Sampling.** Epoch ``e`` visits the images in the order of a permutation drawn from
  ``(seed, e)`` (repeated when an epoch holds more crops than images); crop offsets of step
  ``s`` come from ``(seed, e, s)``. A batch is thus a pure function of ``(seed, epoch, step)``:
  resuming at a step reproduces the stream exactly, and every worker of a distributed run
  builds the same global batch. No flips or other augmentation (the paper names none).

The class is plain Python/numpy (no ``tf.data``), so it feeds Keras under the TensorFlow and
the JAX backend alike (:meth:`ImageFolderDataset.keras_dataset` wraps an epoch in a
``keras.utils.PyDataset``).

Example:
    >>> ds = ImageFolderDataset("photos", crop_size=176, batch_size=32, seed=0)
    >>> x, rgb = ds.batch(epoch=0, step=0)          # (32, 176, 176, 6) 0..1, (32, 176, 176, 3)
    >>> ds.batch_files(0, 0)[:2]
    ['000000000139.jpg', '000000000285.jpg']
"""

from __future__ import annotations

import hashlib
import io as _io
import json
import math
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from jndtf.io import MIN_SIDE, atomic_write_bytes, file_sha256, iter_images, load_image
from jndtf.priors.inputs import code_fingerprint

#: Version of the cache layout; part of every key.
CACHE_FORMAT = 1

#: Environment variable that overrides the default cache folder.
CACHE_ENV = "JNDTF_CACHE_DIR"


def default_cache_dir() -> Path:
    """``$JNDTF_CACHE_DIR``, else ``$XDG_CACHE_HOME/jndtf/inputs``, else ``~/.cache/jndtf/inputs``.

    Shared by every run on the machine: entries are keyed by content, so the same image in two
    folders or two runs is computed once.
    """
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "jndtf" / "inputs"


def input_settings(
    priors: Sequence[str], normalization: str = "unit", overrides: Mapping | None = None
) -> dict:
    """The settings an input depends on (besides the image): part of every cache key.

    Args:
        overrides: prior name -> replacement callable (``model_input``'s `overrides`); each must
            carry a ``fingerprint`` attribute (e.g. :class:`jndtf.models.saliency_prior.
            SaliencyPrior`: the sha256 of its weights) so the cache tells them apart.

    Raises:
        ValueError: an unsupported prior or normalization, or an override without a fingerprint.
    """
    import jndtf
    from jndtf.models.inputs import normalization_info

    settings = {
        "format": CACHE_FORMAT,
        "priors": list(priors),
        "normalization": normalization_info(priors, normalization),
        "jndtf": jndtf.__version__,
        "code": code_fingerprint(),
    }
    if overrides:
        prints = {}
        for name, fn in sorted(overrides.items()):
            fingerprint = getattr(fn, "fingerprint", None)
            if not fingerprint:
                raise ValueError(
                    f"the {name!r} prior override has no 'fingerprint' attribute; "
                    "cached inputs could not be told apart from the core prior's"
                )
            prints[name] = str(fingerprint)
        settings["overrides"] = prints
    return settings


def cache_key(content_sha256: str, settings: dict) -> str:
    """Cache key of one image: sha256 of its content hash and :func:`input_settings` (hex, 40)."""
    blob = json.dumps({"content": content_sha256, "settings": settings}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:40]


def _npy_bytes(array: np.ndarray) -> bytes:
    buf = _io.BytesIO()
    np.save(buf, np.ascontiguousarray(array), allow_pickle=False)
    return buf.getvalue()


@dataclass(frozen=True)
class ImageRecord:
    """One image of the folder: file, content hash, size and its cache files."""

    path: Path
    sha256: str
    height: int
    width: int
    input_file: Path
    rgb_file: Path

    @property
    def name(self) -> str:
        return self.path.name


class ImageFolderDataset:
    """Seeded random crops of a folder of images: ``(network input, original RGB)`` batches.

    See the module docstring for the input, the cache and the sampling.

    Args:
        folder: folder of images (PNG, JPEG, ...; not recursive, sorted by name).
        crop_size: side of the square crops, pixels (>= 32, at most the smallest image side).
        batch_size: crops per batch (>= 1).
        priors: prior names stacked after RGB (:data:`jndtf.models.inputs.PRIOR_FULL_SCALE`
            keys), in channel order; a model's ``ModelSpec.priors``.
        normalization: input normalization of :mod:`jndtf.models.inputs`.
        seed: seed of the image subset, the visiting order and the crop offsets.
        steps_per_epoch: batches per epoch (None: ``ceil(images / batch_size)``, every image
            at least once per epoch).
        max_images: use a seeded random subset of this many images (None: all), e.g. the
            paper's 1000 of COCO.
        cache_dir: where the inputs are cached (None: :func:`default_cache_dir`).
        progress: ``progress(done, total, name)`` after each image is hashed/prepared.
        prior_overrides: prior name -> replacement callable for `model_input` (e.g. a trained
            saliency net for "saliency"); must carry a ``fingerprint`` (cache key).

    Raises:
        FileNotFoundError: `folder` does not exist or is not a folder.
        ValueError: the folder holds no images, a crop larger than the smallest image, bad
            numbers.
        ImageError: an unreadable or too small image (the message names the file).

    Example:
        >>> ds = ImageFolderDataset("photos", crop_size=48, batch_size=4, priors=("saliency",))
        >>> x, rgb = ds.batch(0, 0)
        >>> x.shape, rgb.shape
        ((4, 48, 48, 4), (4, 48, 48, 3))
    """

    def __init__(
        self,
        folder: str | os.PathLike,
        *,
        crop_size: int = 176,
        batch_size: int = 32,
        priors: Sequence[str] = ("pattern_masking", "contrast_masking", "saliency"),
        normalization: str = "unit",
        seed: int = 0,
        steps_per_epoch: int | None = None,
        max_images: int | None = None,
        cache_dir: str | os.PathLike | None = None,
        progress: Callable[[int, int, str], None] | None = None,
        prior_overrides: Mapping[str, Callable[[np.ndarray], np.ndarray]] | None = None,
    ):
        _check_int("crop_size", crop_size, MIN_SIDE)
        _check_int("batch_size", batch_size, 1)
        _check_int("seed", seed, 0)
        if steps_per_epoch is not None:
            _check_int("steps_per_epoch", steps_per_epoch, 1)
        if max_images is not None:
            _check_int("max_images", max_images, 1)
        folder = Path(folder)
        if not folder.is_dir():
            raise FileNotFoundError(
                f"training data folder {folder} does not exist or is not a folder"
            )
        files = list(iter_images(folder))
        if not files:
            raise ValueError(
                f"training data folder {folder} holds no images (looked for .png, .jpg, ...)"
            )
        if max_images is not None and max_images < len(files):
            pick = np.random.default_rng([seed, 104729]).choice(len(files), max_images, False)
            files = [files[i] for i in sorted(pick)]

        self.folder = folder
        self.crop_size = int(crop_size)
        self.batch_size = int(batch_size)
        self.priors = tuple(priors)
        self.normalization = normalization
        self.seed = int(seed)
        self.prior_overrides = dict(prior_overrides or {})
        self.settings = input_settings(self.priors, normalization, self.prior_overrides)
        self.cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
        self.records = tuple(self._prepare(p, i, len(files), progress) for i, p in enumerate(files))
        smallest = min(self.records, key=lambda r: min(r.height, r.width))
        if self.crop_size > min(smallest.height, smallest.width):
            raise ValueError(
                f"crop_size {self.crop_size} is larger than the smallest image, "
                f"{smallest.name} ({smallest.height}x{smallest.width}); use a crop of at most "
                f"{min(smallest.height, smallest.width)} or remove that image"
            )
        n = len(self.records)
        self.steps_per_epoch = (
            int(steps_per_epoch) if steps_per_epoch is not None else math.ceil(n / self.batch_size)
        )
        self._arrays: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self._orders: dict[int, np.ndarray] = {}

    # ---------------------------------------------------------------------------- cache

    def _prepare(self, path: Path, index: int, total: int, progress) -> ImageRecord:
        """Hashes one image, computes and caches its input unless a valid entry exists."""
        digest = file_sha256(path)
        key = cache_key(digest, self.settings)
        input_file = self.cache_dir / f"{key}.input.npy"
        rgb_file = self.cache_dir / f"{key}.rgb.npy"
        shape = self._cached_shape(input_file, rgb_file)
        if shape is None:
            from jndtf.models.inputs import model_input

            rgb = load_image(path)
            x = model_input(
                rgb, self.priors, normalization=self.normalization, overrides=self.prior_overrides
            )
            # rgb first: an entry counts only once its input file exists, written last
            atomic_write_bytes(rgb_file, _npy_bytes(rgb))
            atomic_write_bytes(input_file, _npy_bytes(x))
            shape = rgb.shape[:2]
        if progress is not None:
            progress(index + 1, total, path.name)
        return ImageRecord(path, digest, int(shape[0]), int(shape[1]), input_file, rgb_file)

    def _cached_shape(self, input_file: Path, rgb_file: Path) -> tuple[int, int] | None:
        """(H, W) of a complete, consistent cache entry, else None (then it is recomputed)."""
        if not (input_file.is_file() and rgb_file.is_file()):
            return None
        try:
            x = np.load(input_file, mmap_mode="r")
            rgb = np.load(rgb_file, mmap_mode="r")
        except (OSError, ValueError):
            return None
        c = 3 + len(self.priors)
        ok = (
            x.dtype == np.float32
            and x.ndim == 3
            and x.shape[2] == c
            and rgb.dtype == np.uint8
            and rgb.shape == (*x.shape[:2], 3)
        )
        return x.shape[:2] if ok else None

    def _arrays_of(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        arrays = self._arrays.get(i)
        if arrays is None:
            r = self.records[i]
            arrays = (np.load(r.input_file, mmap_mode="r"), np.load(r.rgb_file, mmap_mode="r"))
            self._arrays[i] = arrays
        return arrays

    # ------------------------------------------------------------------------- sampling

    def __len__(self) -> int:
        """Batches per epoch."""
        return self.steps_per_epoch

    @property
    def num_images(self) -> int:
        return len(self.records)

    @property
    def input_channels(self) -> int:
        return 3 + len(self.priors)

    def _order(self, epoch: int) -> np.ndarray:
        order = self._orders.get(epoch)
        if order is None:
            n = len(self.records)
            need = self.steps_per_epoch * self.batch_size
            rng = np.random.default_rng([self.seed, int(epoch)])
            order = np.concatenate([rng.permutation(n) for _ in range(math.ceil(need / n))])
            self._orders = {epoch: order}  # one epoch at a time is all a run needs
        return order

    def crop_plan(self, epoch: int, step: int) -> list[tuple[int, int, int]]:
        """``(index into records, top, left)`` of every crop of batch (epoch, step), in batch
        order; a pure function of (seed, epoch, step)."""
        if not 0 <= int(step) < self.steps_per_epoch:
            raise IndexError(f"step {step} outside 0..{self.steps_per_epoch - 1}")
        if int(epoch) < 0:
            raise IndexError(f"epoch must be >= 0, got {epoch}")
        order = self._order(int(epoch))
        rng = np.random.default_rng([self.seed, int(epoch), int(step)])
        c = self.crop_size
        plan = []
        for j in range(step * self.batch_size, (step + 1) * self.batch_size):
            i = int(order[j])
            r = self.records[i]
            top = int(rng.integers(0, r.height - c + 1))
            left = int(rng.integers(0, r.width - c + 1))
            plan.append((i, top, left))
        return plan

    def batch(self, epoch: int, step: int) -> tuple[np.ndarray, np.ndarray]:
        """Batch `step` of `epoch`: ``(inputs, originals)``.

        Returns:
            ``inputs`` float32 ``(B, S, S, C)`` in 0..1 (network input, RGB then priors) and
            ``originals`` float32 ``(B, S, S, 3)`` RGB in 0..255 (x_o), S = `crop_size`.
        """
        b, c = self.batch_size, self.crop_size
        x = np.empty((b, c, c, self.input_channels), np.float32)
        rgb = np.empty((b, c, c, 3), np.float32)
        for k, (i, top, left) in enumerate(self.crop_plan(epoch, step)):
            xi, ri = self._arrays_of(i)
            x[k] = xi[top : top + c, left : left + c]
            rgb[k] = ri[top : top + c, left : left + c]
        return x, rgb

    def batch_files(self, epoch: int, step: int) -> list[str]:
        """File names of the crops of batch (epoch, step), in batch order."""
        return [self.records[i].name for i, _, _ in self.crop_plan(epoch, step)]

    def samples(self, epoch: int, start_step: int = 0) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Yields the ``(input HxWxC float32, original HxWx3 float32 0..255)`` crop pairs of one
        epoch from `start_step` on, in batch order."""
        for step in range(start_step, self.steps_per_epoch):
            x, rgb = self.batch(epoch, step)
            yield from zip(x, rgb, strict=True)

    def keras_dataset(self, epoch: int, start_step: int = 0):
        """Steps ``start_step..`` of `epoch` as a ``keras.utils.PyDataset`` of
        ``(inputs, originals)`` batches (index ``k`` is step ``start_step + k``)."""
        import keras

        outer = self

        class _EpochDataset(keras.utils.PyDataset):
            def __init__(self):
                super().__init__(workers=1, use_multiprocessing=False)

            def __len__(self):
                return outer.steps_per_epoch - start_step

            def __getitem__(self, index):
                return outer.batch(epoch, start_step + int(index))

        return _EpochDataset()

    def describe(self) -> dict:
        """The data as a manifest records it: folder, images with hashes, crop and inputs."""
        return {
            "folder": str(self.folder),
            "num_images": self.num_images,
            "images": [
                {"file": r.name, "sha256": r.sha256, "height": r.height, "width": r.width}
                for r in self.records
            ],
            "crop_size": self.crop_size,
            "batch_size": self.batch_size,
            "steps_per_epoch": self.steps_per_epoch,
            "seed": self.seed,
            "priors_on": "whole image, then cropped (jndtf.models.inputs.model_input)",
        }


def _check_int(name: str, value, lo: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < lo:
        raise ValueError(f"{name} must be an integer >= {lo}, got {value!r}")


__all__ = [
    "CACHE_ENV",
    "CACHE_FORMAT",
    "ImageFolderDataset",
    "ImageRecord",
    "cache_key",
    "default_cache_dir",
    "file_sha256",
    "input_settings",
]
