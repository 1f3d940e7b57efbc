"""jndtf.edge: the TensorFlow-free runtime for JND maps on camera streams (issue 6).

This package may import numpy, OpenCV, the jndtf core (priors, baselines, apply, the numpy
model-input builder) and the LiteRT interpreter only; tests/test_import_boundary.py enforces it.

Example:
    >>> from jndtf.edge import JndMapper, JndMapperOptions, RunningMode
    >>> opts = JndMapperOptions(model="acol-tflite-fp32.tflite", running_mode=RunningMode.VIDEO)
    >>> with JndMapper.create_from_options(opts) as mapper:
    ...     jnd = mapper.process(frame).jnd          # float32 HxWxC, pixel units 0..255
    >>> from jndtf.edge import DmvJnd                # DMV-JND: classifier CAM -> E-D -> e
"""

from __future__ import annotations

from jndtf._lazy import lazy_exports

#: public name -> the module that defines it; imported on first use (PEP 562), so reading
#: one settings dataclass (the CLI's --help) does not load OpenCV, PyAV and every stage
_EXPORTS = {
    "EncodedFrame": "encoders",
    "H264Encoder": "encoders",
    "JpegEncoder": "encoders",
    "DmvError": "dmv",
    "DmvJnd": "dmv",
    "DmvResult": "dmv",
    "Classifier": "machine",
    "ClassifierError": "machine",
    "MachineVisionRecord": "machine",
    "MachineVisionStage": "machine",
    "MachineVisionSummary": "machine",
    "JndMapperOptions": "options",
    "JndResult": "options",
    "JndStats": "options",
    "RunningMode": "options",
    "preprocess_frame": "preprocess",
    "JndMapper": "runtime",
    "Frame": "sources",
    "FrameSource": "sources",
    "SourceError": "sources",
    "SourceStats": "sources",
    "open_source": "sources",
    "StreamReport": "stream",
    "StreamSettings": "stream",
    "run_stream": "stream",
}

__getattr__, __dir__, __all__ = lazy_exports(__name__, _EXPORTS)
