"""The one LiteRT loader of jndtf (core: numpy + the interpreter, no TensorFlow).

Every TF-free caller that opens a ``.tflite`` file (the edge runtime's
:class:`jndtf.edge.interpreter.LiteRTModel`, the learned saliency prior
:class:`jndtf.priors.learned.SaliencyPrior`) gets its interpreter here:
``ai_edge_litert.interpreter.Interpreter`` (the ``[edge]`` extra, numpy 2, no TensorFlow), and
``tflite_runtime.interpreter.Interpreter`` as a fallback import only (its last release, 2.14, is
built against numpy 1.x and is 2.5-4x slower: DESIGN.md). ``tf.lite`` is never used (deprecated,
and it would pull TensorFlow).

Example:
    >>> interp = open_interpreter("jnd-tflite-int8.tflite", num_threads=2)
    >>> interp.get_input_details()[0]["shape"]
    array([  1, 360, 640,   6], dtype=int32)
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile

#: What to run when no interpreter can be imported.
INSTALL_HINT = 'pip install "jndtf[edge]"'

#: LiteRT's C++ log line on the first allocation of a process (TFLITE_LOG_PROD_ONCE): chatter, not
#: a message a user can act on.
_XNNPACK_INFO = "INFO: Created TensorFlow Lite XNNPACK delegate"


def interpreter_class():
    """The LiteRT ``Interpreter`` class: ``ai_edge_litert`` first, ``tflite_runtime`` second.

    Raises:
        ImportError: neither is installed (the message names ``pip install "jndtf[edge]"``).
    """
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError as first:
        try:
            from tflite_runtime.interpreter import Interpreter
        except ImportError:
            raise ImportError(
                "jndtf needs the LiteRT interpreter (ai_edge_litert) to run a .tflite model, and "
                f"it is not installed: run {INSTALL_HINT}"
            ) from first
    return Interpreter


@contextlib.contextmanager
def quiet_litert_info(drop: tuple[str, ...] = (_XNNPACK_INFO,)):
    """Keeps native log lines starting with one of `drop` (default: LiteRT's one-time XNNPACK
    INFO line) off stderr; everything else written to file descriptor 2 meanwhile (native
    warnings, errors, other threads) is written out afterwards.

    Such lines come from C++ (the XNNPACK one on the first ``allocate_tensors`` of a process),
    so Python's ``sys.stderr`` cannot filter them: fd 2 points at a temporary file meanwhile.
    """
    try:
        fd = sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):  # a replaced sys.stderr (tests, notebooks)
        yield
        return
    sys.stderr.flush()
    saved = os.dup(fd)
    with tempfile.TemporaryFile() as held:
        os.dup2(held.fileno(), fd)
        try:
            yield
        finally:
            os.dup2(saved, fd)
            os.close(saved)
            held.seek(0)
            lines = held.read().decode(errors="replace").splitlines(keepends=True)
            kept = "".join(line for line in lines if not line.startswith(drop))
            if kept:
                os.write(fd, kept.encode())


def open_interpreter(path: str | os.PathLike, *, num_threads: int | None = None):
    """A LiteRT interpreter for a ``.tflite`` file, tensors allocated (XNNPACK's INFO line kept
    off stderr).

    Args:
        path: the ``.tflite`` file.
        num_threads: interpreter threads (None: LiteRT's default).

    Raises:
        ImportError: no LiteRT interpreter (names the pip command).
        ValueError: a file LiteRT cannot load (the message names it).
    """
    cls = interpreter_class()
    kwargs = {} if num_threads is None else {"num_threads": int(num_threads)}
    try:
        interp = cls(model_path=str(path), **kwargs)
        allocate(interp)
    except (RuntimeError, ValueError) as err:
        raise ValueError(f"{path}: LiteRT cannot load this model ({err})") from None
    return interp


#: H, W at which a dynamic ``[N, -1, -1, C]`` model is first allocated. LiteRT's default of 1x1
#: fails for a network that pads by reflection (a 1-pixel image has nothing to mirror: "XNNPack
#: delegate failed to reshape"); every runner resizes to each real input anyway.
DYNAMIC_ALLOCATE_HW = (32, 32)


def allocate(interp) -> None:
    """``allocate_tensors()``, with each dynamic NHWC input first resized to
    :data:`DYNAMIC_ALLOCATE_HW` (batch 1 where it is dynamic too)."""
    for d in interp.get_input_details():
        sig = [int(s) for s in d.get("shape_signature", d["shape"])]
        if len(sig) == 4 and (sig[1] == -1 or sig[2] == -1):
            h, w = DYNAMIC_ALLOCATE_HW
            interp.resize_tensor_input(d["index"], [max(sig[0], 1), h, w, sig[3]])
    with quiet_litert_info():
        interp.allocate_tensors()


__all__ = [
    "DYNAMIC_ALLOCATE_HW",
    "INSTALL_HINT",
    "allocate",
    "interpreter_class",
    "open_interpreter",
    "quiet_litert_info",
]
