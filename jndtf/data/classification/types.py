"""The labelled-image record every reader returns, and the reader error."""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np

#: ``progress(done, total)``; ``total`` is None while it is unknown (a streamed archive).
Progress = Callable[[int, "int | None"], None]


class DatasetError(ValueError):
    """A dataset that cannot be read as asked; the message names the file (and byte offset or
    archive member) and what to do."""


class Labelled(NamedTuple):
    """A labelled image set: unpacks as ``images, labels, class_names = reader(...)``.

    Attributes:
        images: uint8 RGB ``N x 32 x 32 x 3`` (NHWC, 0..255).
        labels: int64 ``N``, indices into `class_names`.
        class_names: one name per class, in label order.
    """

    images: np.ndarray
    labels: np.ndarray
    class_names: list[str]
