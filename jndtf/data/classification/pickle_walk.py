"""Reads the CIFAR-10 python-version batches WITHOUT unpickling them.

``pickle.load`` runs whatever the file tells it to (any importable callable), so a downloaded
``data_batch_1`` is never handed to it. :func:`walk_pickle` interprets the pickle opcodes itself
and accepts only those the known layout uses (Python 2's ``cPickle`` at protocol 2, as the
official files, and Python 3's ``pickle.dumps(..., protocol=2)`` of the same dict):

- containers: ``EMPTY_DICT``/``SETITEM(S)``, ``EMPTY_LIST``/``APPEND(S)``, tuples, ``MARK``;
- scalars: small/large ints, ``None``, booleans, byte strings and unicode strings;
- the memo (``(LONG_)BINPUT``/``(LONG_)BINGET``);
- exactly four callables, each replaced by a local stand-in that builds data and runs nothing:
  ``numpy.core.multiarray._reconstruct`` (also spelled ``numpy._core.multiarray``),
  ``numpy.ndarray``, ``numpy.dtype`` (plain numeric types only) and ``_codecs.encode``
  (how Python 3 pickles ``bytes`` at protocol 2).

Anything else (another ``GLOBAL`` such as ``os system``, an ``INST``/``OBJ``/``NEWOBJ``,
a persistent id, an extension code) raises :class:`PickleLayoutError` naming the file and
the byte offset of the opcode; so does a truncated file or a stack that does not add up.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

import numpy as np


class PickleLayoutError(ValueError):
    """A pickle that is not the CIFAR batch layout, or is truncated; names file and offset."""


#: The callables a CIFAR batch may name, as ``(module, name)`` of a GLOBAL opcode.
_RECONSTRUCT = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
}
_NDARRAY = ("numpy", "ndarray")
_DTYPE = ("numpy", "dtype")
_ENCODE = ("_codecs", "encode")

#: dtype codes a batch may carry (pixels are ``u1``; other plain numbers are harmless).
_DTYPES = {"u1", "i1", "u2", "i2", "u4", "i4", "u8", "i8", "f4", "f8", "b1"}


class _Global:
    def __init__(self, key: tuple[str, str]):
        self.key = key


class _ArraySpec:
    """What ``_reconstruct`` returns before ``BUILD`` fills it in."""

    def __init__(self):
        self.array: np.ndarray | None = None


_MARK = object()


def _fail(path: Path, pos: int, what: str) -> PickleLayoutError:
    return PickleLayoutError(f"{path}: byte {pos}: {what}")


def walk_pickle(path: str | os.PathLike, data: bytes | None = None) -> object:
    """Interprets a protocol-0..3 pickle of the CIFAR batch layout and returns its value.

    numpy arrays come back as real ``np.ndarray`` (copies); byte strings as ``bytes``.

    Raises:
        PickleLayoutError: an opcode or callable outside the layout, or a truncated/corrupt
            file; the message names `path` and the byte offset.

    Example:
        >>> batch = walk_pickle("cifar-10-batches-py/data_batch_1")
        >>> batch[b"data"].shape, len(batch[b"labels"])
        ((10000, 3072), 10000)
    """
    path = Path(path)
    raw = path.read_bytes() if data is None else data
    n = len(raw)
    stack: list = []
    memo: dict[int, object] = {}
    i = 0

    def take(k: int, at: int) -> bytes:
        if i + k > n:
            raise _fail(
                path, at, f"the file ends inside an opcode (needs {k} more bytes): truncated"
            )
        return raw[i : i + k]

    def pop(at: int):
        if not stack or stack[-1] is _MARK:
            raise _fail(path, at, "an opcode needs a value the stack does not hold: corrupt pickle")
        return stack.pop()

    def pop_mark(at: int) -> list:
        for k in range(len(stack) - 1, -1, -1):
            if stack[k] is _MARK:
                items = stack[k + 1 :]
                del stack[k:]
                return items
        raise _fail(path, at, "no MARK before this opcode: corrupt pickle")

    def line(at: int) -> str:
        j = raw.find(b"\n", i)
        if j < 0:
            raise _fail(path, at, "the file ends inside a GLOBAL name: truncated")
        return raw[i:j].decode("ascii", "replace")

    while True:
        if i >= n:
            raise _fail(path, i, "the file ends before the pickle's STOP opcode: truncated")
        at, op = i, raw[i]
        i += 1
        if op == 0x80:  # PROTO
            proto = take(1, at)[0]
            i += 1
            if proto > 3:
                raise _fail(path, at, f"pickle protocol {proto}; CIFAR batches use protocol 2")
        elif op == ord("."):  # STOP
            if len(stack) != 1:
                raise _fail(path, at, f"STOP with {len(stack)} values on the stack: corrupt pickle")
            return _finish(path, at, stack[0])
        elif op == ord("}"):
            stack.append({})
        elif op == ord("]"):
            stack.append([])
        elif op == ord(")"):
            stack.append(())
        elif op == ord("("):
            stack.append(_MARK)
        elif op == ord("N"):
            stack.append(None)
        elif op in (0x88, 0x89):  # NEWTRUE, NEWFALSE
            stack.append(op == 0x88)
        elif op == ord("K"):  # BININT1
            stack.append(take(1, at)[0])
            i += 1
        elif op == ord("M"):  # BININT2
            stack.append(struct.unpack("<H", take(2, at))[0])
            i += 2
        elif op == ord("J"):  # BININT
            stack.append(struct.unpack("<i", take(4, at))[0])
            i += 4
        elif op == 0x8A:  # LONG1
            k = take(1, at)[0]
            i += 1
            stack.append(int.from_bytes(take(k, at), "little", signed=True))
            i += k
        elif op in (ord("U"), ord("C")):  # SHORT_BINSTRING, SHORT_BINBYTES
            k = take(1, at)[0]
            i += 1
            stack.append(bytes(take(k, at)))
            i += k
        elif op in (ord("T"), ord("B")):  # BINSTRING, BINBYTES
            k = struct.unpack("<I", take(4, at))[0]
            i += 4
            stack.append(bytes(take(k, at)))
            i += k
        elif op in (ord("X"), 0x8C):  # BINUNICODE, SHORT_BINUNICODE
            if op == 0x8C:
                k = take(1, at)[0]
                i += 1
            else:
                k = struct.unpack("<I", take(4, at))[0]
                i += 4
            try:
                stack.append(take(k, at).decode("utf-8", "surrogatepass"))
            except UnicodeDecodeError as e:
                raise _fail(path, at, f"a unicode string is not valid UTF-8 ({e.reason})") from None
            i += k
        elif op in (ord("q"), ord("r")):  # BINPUT, LONG_BINPUT
            k = 1 if op == ord("q") else 4
            idx = int.from_bytes(take(k, at), "little")
            i += k
            if not stack:
                raise _fail(path, at, "PUT with an empty stack: corrupt pickle")
            memo[idx] = stack[-1]
        elif op in (ord("h"), ord("j")):  # BINGET, LONG_BINGET
            k = 1 if op == ord("h") else 4
            idx = int.from_bytes(take(k, at), "little")
            i += k
            if idx not in memo:
                raise _fail(path, at, f"GET of memo entry {idx} that was never stored")
            stack.append(memo[idx])
        elif op == ord("a"):  # APPEND
            value = pop(at)
            target = pop(at)
            if not isinstance(target, list):
                raise _fail(path, at, "APPEND to something that is not a list")
            target.append(value)
            stack.append(target)
        elif op == ord("e"):  # APPENDS
            items = pop_mark(at)
            target = pop(at)
            if not isinstance(target, list):
                raise _fail(path, at, "APPENDS to something that is not a list")
            target.extend(items)
            stack.append(target)
        elif op in (ord("s"), ord("u")):  # SETITEM, SETITEMS
            items = [pop(at), pop(at)][::-1] if op == ord("s") else pop_mark(at)
            target = pop(at)
            if not isinstance(target, dict) or len(items) % 2:
                raise _fail(path, at, "SETITEM(S) on something that is not a dict")
            for k in range(0, len(items), 2):
                key = items[k]
                if not isinstance(key, (bytes, str, int)):
                    raise _fail(path, at, f"a dict key of type {type(key).__name__}")
                target[key] = items[k + 1]
            stack.append(target)
        elif op in (0x85, 0x86, 0x87):  # TUPLE1..3
            k = op - 0x84
            items = [pop(at) for _ in range(k)][::-1]
            stack.append(tuple(items))
        elif op == ord("t"):  # TUPLE
            stack.append(tuple(pop_mark(at)))
        elif op == ord("c"):  # GLOBAL
            module = line(at)
            i += len(module) + 1
            name = line(at)
            i += len(name) + 1
            key = (module, name)
            if key not in _RECONSTRUCT and key not in (_NDARRAY, _DTYPE, _ENCODE):
                raise _fail(
                    path,
                    at,
                    f"the pickle refers to {module}.{name}, which a CIFAR-10 batch never does; "
                    "refusing to read it (this reader never unpickles: get the official file)",
                )
            stack.append(_Global(key))
        elif op == ord("R"):  # REDUCE
            args = pop(at)
            func = pop(at)
            stack.append(_reduce(path, at, func, args))
        elif op == ord("b"):  # BUILD
            state = pop(at)
            obj = pop(at)
            stack.append(_build(path, at, obj, state))
        else:
            raise _fail(
                path,
                at,
                f"pickle opcode {bytes([op])!r} (0x{op:02x}) is not part of the CIFAR-10 batch "
                "layout; refusing to read further (this reader never unpickles)",
            )


def _reduce(path: Path, at: int, func: object, args: object) -> object:
    if not isinstance(func, _Global) or not isinstance(args, tuple):
        raise _fail(path, at, "REDUCE of something that is not an allowed callable")
    key = func.key
    if key == _ENCODE:
        if len(args) != 2 or not isinstance(args[0], str) or args[1] not in ("latin1", "latin-1"):
            raise _fail(path, at, "_codecs.encode with arguments other than (str, 'latin1')")
        try:
            return args[0].encode("latin-1")
        except UnicodeEncodeError:
            raise _fail(path, at, "_codecs.encode of a string outside latin-1") from None
    if key == _DTYPE:
        code = args[0] if args else None
        code = code.decode("ascii", "replace") if isinstance(code, bytes) else code
        if code not in _DTYPES:
            raise _fail(path, at, f"numpy dtype {code!r} is not a plain numeric type")
        return np.dtype(code)
    if key in _RECONSTRUCT:
        if len(args) != 3 or not (isinstance(args[0], _Global) and args[0].key == _NDARRAY):
            raise _fail(path, at, "_reconstruct with arguments other than (ndarray, shape, type)")
        return _ArraySpec()
    raise _fail(path, at, f"{'.'.join(key)} cannot be called here")


def _build(path: Path, at: int, obj: object, state: object) -> object:
    if isinstance(obj, np.dtype):
        # dtype state: (version, byte order, subdescr, names, fields, elsize, alignment, flags)
        # (Python 2 files carry the byte order as a byte string, b"|")
        order = state[1] if isinstance(state, tuple) and len(state) >= 2 else None
        order = order.decode("latin-1") if isinstance(order, bytes) else order
        if order not in ("|", "<", ">", "="):
            raise _fail(path, at, "numpy dtype state of an unknown form")
        return obj.newbyteorder(order) if order in "<>" else obj
    if isinstance(obj, _ArraySpec):
        # ndarray state: (version, shape, dtype, is_fortran, raw data)
        if not isinstance(state, tuple) or len(state) != 5:
            raise _fail(path, at, "numpy array state of an unknown form")
        _, shape, dtype, fortran, payload = state
        if (
            not isinstance(shape, tuple)
            or not all(isinstance(s, int) and s >= 0 for s in shape)
            or not isinstance(dtype, np.dtype)
            or not isinstance(payload, bytes)
        ):
            raise _fail(path, at, "numpy array state of an unknown form")
        count = int(np.prod(shape, dtype=np.int64))
        if count * dtype.itemsize != len(payload):
            raise _fail(
                path,
                at,
                f"array of shape {shape} needs {count * dtype.itemsize} bytes, "
                f"the file holds {len(payload)}: corrupt batch",
            )
        arr = np.frombuffer(payload, dtype=dtype).reshape(shape, order="F" if fortran else "C")
        obj.array = arr.copy()
        return obj
    raise _fail(path, at, "BUILD on something that is not a numpy array or dtype")


def _finish(path: Path, at: int, value: object) -> object:
    """Replaces array stand-ins with their arrays (only where the layout puts them)."""
    if isinstance(value, _ArraySpec):
        if value.array is None:
            raise _fail(path, at, "a numpy array without its data (no BUILD): corrupt pickle")
        return value.array
    if isinstance(value, dict):
        return {k: _finish(path, at, v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finish(path, at, v) for v in value]
    if isinstance(value, (_Global, np.dtype)):
        raise _fail(path, at, "a bare callable or dtype in the data: not a CIFAR batch")
    return value
