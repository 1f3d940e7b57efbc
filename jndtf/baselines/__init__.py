"""Classical pixel-domain JND models behind one interface and registry.

``get(name)(image) -> float32 HxWx1`` JND map in 0..255 pixel units (a luma map, broadcast to
RGB when applied); ``image`` is uint8 or 0..255 float, grey ``HxW`` or RGB ``HxWx3``.
numpy + OpenCV only (no TensorFlow).

Example:
    >>> from jndtf import baselines
    >>> baselines.available()
    ['chen2019', 'chou_li1995', 'liu2010', 'wu2013', 'wu2017', 'yang2005']
    >>> jnd = baselines.get("wu2017")(image)
"""

from jndtf.baselines import chen2019 as _chen2019  # noqa: F401  (registers)
from jndtf.baselines import chou_li1995 as _chou_li1995  # noqa: F401
from jndtf.baselines import liu2010 as _liu2010  # noqa: F401
from jndtf.baselines import wu2013 as _wu2013  # noqa: F401
from jndtf.baselines import wu2017 as _wu2017  # noqa: F401
from jndtf.baselines import yang2005 as _yang2005  # noqa: F401
from jndtf.baselines._registry import BaselineInfo, available, get, info, register
from jndtf.baselines.chen2019 import chen2019_components
from jndtf.baselines.liu2010 import liu2010_components, tv_l1_decompose
from jndtf.baselines.wu2013 import ar_predict, wu2013_components
from jndtf.baselines.wu2017 import namm, wu2017_components
from jndtf.baselines.yang2005 import yang2005_components

__all__ = [
    "BaselineInfo",
    "ar_predict",
    "available",
    "chen2019_components",
    "get",
    "info",
    "liu2010_components",
    "namm",
    "register",
    "tv_l1_decompose",
    "wu2013_components",
    "wu2017_components",
    "yang2005_components",
]
