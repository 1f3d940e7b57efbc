"""jndtf.edge: the TensorFlow-free runtime for JND maps on camera streams (issue 6; not built yet).

This package may import numpy, OpenCV, the jndtf core (priors, baselines, apply) and the LiteRT
interpreter only; tests/test_import_boundary.py enforces it.
"""
