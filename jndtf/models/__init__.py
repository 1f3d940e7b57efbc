"""Learned JND models and their helper networks, one folder per family (``acol/``, ``hmjnd/``,
``dmv/``, ``aiqa/`` ...), each with ``network.py``, ``presets.py`` and, where the family has
custom layers, ``layers.py``. Needs the [train] extra; importing this package loads nothing.
"""
