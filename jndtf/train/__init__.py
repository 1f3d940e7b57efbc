"""Training recipes, one module per family (``jndtf.train.aiqa`` ...). Each exposes a frozen
settings dataclass and one ``train_*`` function that the CLI calls; importing this package loads
nothing heavy.
"""

from jndtf._deps import require_installed

require_installed("keras", "training")  # a missing [train] extra names its pip command
