"""Frame sources of the edge runtime: camera, video file, network stream URL, image folder.

A capture thread reads the source into a bounded queue; the consumer iterates :class:`Frame`
objects (uint8 RGB ``HxWx3``). Live sources (cameras, streams) drop the oldest frame when the
consumer falls behind and are reopened with exponential backoff when lost; files and folders
are read completely, in order. Everything is numpy + OpenCV (its bundled FFmpeg reads video
files, RTSP and MJPEG-over-HTTP streams); no TensorFlow.

Example:
    >>> from jndtf.edge.sources import open_source
    >>> with open_source("rtsp://10.0.0.5/live", size=(640, 360)) as src:
    ...     for frame in src:
    ...         jnd = model(frame.image)
    ...     print(src.stats)   # read, delivered, dropped, corrupt, reconnects, queued
"""

from jndtf.edge.sources.frame import Frame, SourceError, SourceStats
from jndtf.edge.sources.source import FrameSource, open_source
from jndtf.edge.sources.spec import KINDS, URL_SCHEMES, SourceSpec, parse_spec

__all__ = [
    "KINDS",
    "URL_SCHEMES",
    "Frame",
    "FrameSource",
    "SourceError",
    "SourceSpec",
    "SourceStats",
    "open_source",
    "parse_spec",
]
