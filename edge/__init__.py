"""jndtf.edge: the TensorFlow-free runtime for JND maps on camera streams (issue 6).

This package may import numpy, OpenCV, the jndtf core (priors, baselines, apply, the numpy
model-input builder) and the LiteRT interpreter only; tests/test_import_boundary.py enforces it.

Example:
    >>> from jndtf.edge import JndMapper, JndMapperOptions, RunningMode
    >>> opts = JndMapperOptions(model="acol-tflite-fp32.tflite", running_mode=RunningMode.VIDEO)
    >>> with JndMapper.create_from_options(opts) as mapper:
    ...     jnd = mapper.process(frame).jnd          # float32 HxWxC, pixel units 0..255
"""

from jndtf.edge.encoders import EncodedFrame, H264Encoder, JpegEncoder
from jndtf.edge.machine import (
    Classifier,
    ClassifierError,
    MachineVisionRecord,
    MachineVisionStage,
    MachineVisionSummary,
)
from jndtf.edge.options import JndMapperOptions, JndResult, JndStats, RunningMode
from jndtf.edge.preprocess import preprocess_frame
from jndtf.edge.runtime import JndMapper
from jndtf.edge.sources import Frame, FrameSource, SourceError, SourceStats, open_source
from jndtf.edge.stream import StreamReport, StreamSettings, run_stream

__all__ = [
    "Classifier",
    "ClassifierError",
    "EncodedFrame",
    "Frame",
    "FrameSource",
    "H264Encoder",
    "JndMapper",
    "JndMapperOptions",
    "JndResult",
    "JndStats",
    "JpegEncoder",
    "MachineVisionRecord",
    "MachineVisionStage",
    "MachineVisionSummary",
    "RunningMode",
    "SourceError",
    "SourceStats",
    "StreamReport",
    "StreamSettings",
    "open_source",
    "preprocess_frame",
    "run_stream",
]
