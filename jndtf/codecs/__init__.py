"""Real encoders and the measures a codec engineer uses: the yardstick of ``jndtf eval rd``.

numpy + OpenCV core (no TensorFlow, no Keras). Optional encoders and metrics (``pyjpegli``,
``ssimulacra2``, ``bjontegaard``) are imported lazily; a missing one raises an ImportError that
names ``pip install "jndtf[rd]"``. PyAV (libx264) comes with ``jndtf[edge]``.

- :mod:`jndtf.codecs.image`: ``encode_jpeg`` (libjpeg-turbo via OpenCV, jpegli), ``decode_image``.
- :mod:`jndtf.codecs.video`: H.264 (libx264 through PyAV) of a list of frames at a CRF.
- :mod:`jndtf.codecs.quality`: SSIMULACRA2, MS-SSIM, PSNR against the original.
- :mod:`jndtf.codecs.bdrate`: Bjøntegaard-delta rate on the overlapping quality range.
"""

from jndtf.codecs.image import ENCODERS, EncoderError, decode_image, encode_jpeg

__all__ = ["ENCODERS", "EncoderError", "decode_image", "encode_jpeg"]
