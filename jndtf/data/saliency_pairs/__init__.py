"""Image / mask pairs for salient-object detection (numpy + OpenCV only).

The salient-object datasets PoolNet trains and tests on (DUTS-TR/-TE, MSRA-B, ECSSD, HKU-IS,
PASCAL-S; Liu et al., CVPR 2019, §4.1) ship as two folders: photos (``*.jpg``) and
ground-truth masks (``*.png``), one mask per photo with the same file stem
(``DUTS-TR/DUTS-TR-Image/ILSVRC2012_test_00000004.jpg`` ↔
``DUTS-TR/DUTS-TR-Mask/ILSVRC2012_test_00000004.png``). This module pairs them by stem and
reads them:

- **Pairing** (:func:`find_pairs`): any image suffix of :data:`jndtf.io.IMAGE_SUFFIXES` in either
  folder (not recursive). Two files with one stem in the same folder, or a stem present in only
  one folder, raise :class:`PairingError` naming them (``strict=False`` skips unmatched stems
  with a warning instead). Photo and mask must have the same height and width:
  :class:`SizeMismatchError` names both files and both sizes (:func:`check_sizes` checks the
  whole set from the file headers, :func:`load_pair` each pair it reads).
- **Masks** (:func:`read_mask`): float32 ``HxW`` in 0..1, 1 = salient. 8-bit masks are divided
  by 255, except a mask whose largest value is 1, which is read as 0/1 labels; 16-bit masks
  are divided by 65535; a grey mask saved as RGB(A) is read from one channel (channels that
  differ raise :class:`jndtf.io.ImageError`). **Non-binary masks** (anti-aliased borders,
  averaged annotations) are kept as soft targets (binary cross-entropy accepts them) unless
  ``threshold`` is given, which binarizes ``mask >= threshold``. Metrics binarize the ground
  truth at 0.5 whatever the training targets (:func:`jndtf.train.saliency.mae`).
- **Training crops** (:class:`SaliencyPairDataset`): seeded random square crops with a random
  horizontal flip, a pure function of ``(seed, epoch, step)`` (so a resumed run sees the same
  batches); an image smaller than the crop is first enlarged (bilinear, mask too) so its short
  side equals the crop.
- **Toy pairs** (:func:`write_toy_pairs`): **pipeline checks only, not a saliency dataset.**
  No salient-object dataset can be downloaded here (DESIGN.md, "Offline world"); these
  composites of scikit-image's bundled photos with exact masks let the tests and the demo run
  the training end to end. A model trained on them learns "a colourful object on a grey texture",
  nothing about human attention.

Files: ``pairing.py`` (pairing and split by stem), ``reading.py`` (sizes, masks, pairs),
``dataset.py`` (crops and batches), ``toy.py`` (toy pairs); every name is importable from this
package.

Example:
    >>> pairs = find_pairs("DUTS-TR/DUTS-TR-Image", "DUTS-TR/DUTS-TR-Mask")
    >>> rgb, mask = load_pair(pairs[0])              # uint8 HxWx3, float32 HxW in 0..1
    >>> ds = SaliencyPairDataset(pairs, crop_size=224, batch_size=8, seed=0)
    >>> x, y = ds.batch(epoch=0, step=0)             # (8, 224, 224, 3) 0..1, (8, 224, 224, 1)
"""

from __future__ import annotations

from jndtf.data.saliency_pairs.dataset import SaliencyPairDataset, random_crop_flip
from jndtf.data.saliency_pairs.pairing import (
    _SHOW,  # noqa: F401 (importable here before the split)
    PairingError,
    SaliencyPair,
    _by_stem,  # noqa: F401 (importable here before the split)
    _listing,  # noqa: F401 (importable here before the split)
    find_pairs,
    split_pairs,
)
from jndtf.data.saliency_pairs.reading import (
    MIN_PAIR_SIDE,
    SizeMismatchError,
    _mismatch,  # noqa: F401 (importable here before the split)
    check_sizes,
    image_size,
    load_pair,
    read_mask,
)
from jndtf.data.saliency_pairs.toy import (
    TOY_BACKGROUNDS,
    TOY_OBJECTS,
    _random_window,  # noqa: F401 (importable here before the split)
    _toy_shape,  # noqa: F401 (importable here before the split)
    write_toy_pairs,
)

__all__ = [
    "MIN_PAIR_SIDE",
    "TOY_BACKGROUNDS",
    "TOY_OBJECTS",
    "PairingError",
    "SaliencyPair",
    "SaliencyPairDataset",
    "SizeMismatchError",
    "check_sizes",
    "find_pairs",
    "image_size",
    "load_pair",
    "random_crop_flip",
    "read_mask",
    "split_pairs",
    "write_toy_pairs",
]
