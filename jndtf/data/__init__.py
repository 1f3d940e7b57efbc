"""Data for training: image-folder pipelines, dataset readers and distortion synthesis.

Submodules are imported explicitly (``from jndtf.data import distortions``); importing this package
loads nothing heavy.
"""
