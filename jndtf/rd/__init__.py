"""``jndtf eval rd``: rate-quality sweeps and BD-rate of JND-guided methods against real encoders.

Core (numpy/OpenCV; no TensorFlow unless the JND model asked for is a learned one).

Example:
    >>> from jndtf.rd import run_rd
    >>> result = run_rd(["photos/"], jnd_model="yang2005", methods=["eq14"],
    ...                 strengths=[0.25, 0.5], encoder="libjpeg-turbo", qualities=range(30, 96, 5),
    ...                 metrics=["ssimulacra2", "psnr"], out_dir="out/rd")
"""

from jndtf.rd.inputs import RDInput, load_inputs, noisy_clip
from jndtf.rd.protocol import RDResult, run_rd

__all__ = ["RDInput", "RDResult", "load_inputs", "noisy_clip", "run_rd"]
