"""jndtf: just-noticeable-difference (JND) models for perceptual pre-processing on edge devices.

Importing ``jndtf`` is cheap: it loads no TensorFlow, no Keras and no OpenCV. The layers are
sub-packages (see DESIGN.md):

- ``jndtf.priors``, ``jndtf.baselines``, ``jndtf.apply``: the core, numpy + OpenCV only;
- ``jndtf.iqa``, ``jndtf.losses``, ``jndtf.models`` ...: the training side
  (``pip install "jndtf[train]"``);
- ``jndtf.export``, ``jndtf.edge``: export and the edge runtime.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
