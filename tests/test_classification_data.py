"""Classification datasets (issue #11): class-per-folder trees on disk and in a tar.gz, the
CIFAR-10 binary and python versions, the stratified split and the tiny synthesized set.

References are independent of the readers: the arrays the tests themselves wrote (PNG is
lossless, so exact), OpenCV's own ``cv2.imread`` of the same JPEG files, records laid out by
hand from the CIFAR-10 format description, and ``pickle.loads(..., encoding="bytes")`` (how
the official python batches are meant to be loaded) of files made with ``pickle.dumps``.
No tolerances: every comparison is exact (uint8 data, integer labels).
"""

from __future__ import annotations

import io
import os
import pickle
import pickletools
import struct
import subprocess
import sys
import tarfile
from pathlib import Path

import cv2
import numpy as np
import pytest

from jndtf.data.classification import (
    DatasetError,
    epoch_batches,
    folders,
    read_cifar10_binary,
    read_cifar10_python,
    read_classification,
    read_image_folder,
    read_image_tar,
    stratified_split,
    tiny_digits,
    walk_pickle,
)
from jndtf.io import ImageWarning

CLASSES = ("cat", "airplane", "dog")  # written unsorted: the readers must sort them


def _rgb(rng: np.random.Generator, n: int, side: int = 32) -> np.ndarray:
    return rng.integers(0, 256, (n, side, side, 3), dtype=np.uint8)


def _write_tree(root: Path, suffix: str = ".png", per_class: int = 3) -> dict[str, list]:
    """Writes root/<class>/<k>.<suffix> with random RGB images; returns class -> images."""
    rng = np.random.default_rng(7)
    written = {}
    for c in CLASSES:
        (root / c).mkdir(parents=True)
        imgs = _rgb(rng, per_class)
        for k, im in enumerate(imgs):
            cv2.imwrite(str(root / c / f"{k:04d}{suffix}"), cv2.cvtColor(im, cv2.COLOR_RGB2BGR))
        (root / c / "notes.txt").write_text("not an image: skipped")
        written[c] = list(imgs)
    return written


def _tar(src: Path, out: Path, top: str = "train") -> Path:
    with tarfile.open(out, "w:gz") as tar:
        tar.add(src, arcname=top)
    return out


# ---------------------------------------------------------------- class-per-folder trees


def test_folder_tree_exact_sorted_classes(tmp_path):
    written = _write_tree(tmp_path / "tree")
    seen = []
    x, y, names = read_image_folder(tmp_path / "tree", progress=lambda d, t: seen.append((d, t)))
    assert names == sorted(CLASSES)
    expected = np.stack([im for c in sorted(CLASSES) for im in written[c]])
    np.testing.assert_array_equal(x, expected)  # PNG is lossless: exact
    np.testing.assert_array_equal(y, np.repeat(np.arange(3), 3))
    assert x.dtype == np.uint8 and y.dtype == np.int64
    assert seen[-1] == (9, 9)


def test_tar_equals_folder_and_opencv_jpeg(tmp_path):
    _write_tree(tmp_path / "tree", suffix=".jpg")
    archive = _tar(tmp_path / "tree", tmp_path / "t.tar.gz")
    xt, yt, nt = read_image_tar(archive)
    xf, yf, nf = read_image_folder(tmp_path / "tree")
    np.testing.assert_array_equal(xt, xf)
    np.testing.assert_array_equal(yt, yf)
    assert nt == nf == sorted(CLASSES)
    # independent decode: OpenCV reading each file from disk
    ref = [
        cv2.cvtColor(cv2.imread(str(tmp_path / "tree" / c / f"{k:04d}.jpg")), cv2.COLOR_BGR2RGB)
        for c in sorted(CLASSES)
        for k in range(3)
    ]
    np.testing.assert_array_equal(xt, np.stack(ref))
    # the archive was never unpacked: only the tar and the source tree exist
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.tar.gz", "tree"]


def test_tar_without_top_folder_and_plain_tar(tmp_path):
    written = _write_tree(tmp_path / "tree")
    plain = tmp_path / "t.tar"
    with tarfile.open(plain, "w") as tar:
        for c in CLASSES:
            tar.add(tmp_path / "tree" / c, arcname=c)
    x, y, names = read_classification(plain)
    assert names == sorted(CLASSES)
    np.testing.assert_array_equal(x[y == 0], np.stack(written["airplane"]))


def test_other_sizes_resized_with_one_warning_and_grey_replicated(tmp_path):
    root = tmp_path / "tree"
    (root / "a").mkdir(parents=True)
    (root / "b").mkdir()
    big = np.random.default_rng(1).integers(0, 256, (64, 48, 3), dtype=np.uint8)
    grey = np.random.default_rng(2).integers(0, 256, (32, 32), dtype=np.uint8)
    cv2.imwrite(str(root / "a" / "big.png"), cv2.cvtColor(big, cv2.COLOR_RGB2BGR))
    cv2.imwrite(str(root / "b" / "grey.png"), grey)
    with pytest.warns(ImageWarning, match="1 of 2 images were not 32x32"):
        x, _, _ = read_image_folder(root)
    np.testing.assert_array_equal(x[0], cv2.resize(big, (32, 32), interpolation=cv2.INTER_AREA))
    np.testing.assert_array_equal(x[1], np.repeat(grey[..., None], 3, axis=2))


def test_empty_class_folder_named(tmp_path):
    _write_tree(tmp_path / "tree")
    (tmp_path / "tree" / "empty").mkdir()
    with pytest.raises(DatasetError, match=r"tree/empty: class folder with no image"):
        read_image_folder(tmp_path / "tree")
    archive = _tar(tmp_path / "tree", tmp_path / "t.tar.gz")
    with pytest.raises(DatasetError, match=r"member train/empty/ is a class folder with no image"):
        read_image_tar(archive)


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_unreadable_image_named(tmp_path, damage):
    _write_tree(tmp_path / "tree", suffix=".jpg")
    bad = tmp_path / "tree" / "dog" / "0001.jpg"
    raw = bad.read_bytes()
    bad.write_bytes(b"not a jpeg at all" if damage == "garbage" else raw[: len(raw) // 2])
    with pytest.raises(DatasetError, match=r"tree/dog/0001\.jpg"):
        read_image_folder(tmp_path / "tree")
    archive = _tar(tmp_path / "tree", tmp_path / "t.tar.gz")
    with pytest.raises(DatasetError, match=r"member train/dog/0001\.jpg"):
        read_image_tar(archive)


def test_truncated_archive_and_mixed_depths(tmp_path, monkeypatch):
    _write_tree(tmp_path / "tree", per_class=20)
    archive = _tar(tmp_path / "tree", tmp_path / "t.tar.gz")
    raw = archive.read_bytes()
    cut = tmp_path / "cut.tar.gz"
    cut.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(
        DatasetError, match=r"cut\.tar\.gz: not a readable tar archive or cut short"
    ):
        read_image_tar(cut)
    with pytest.raises(DatasetError, match=r"cut\.tar\.gz: not a readable tar archive"):
        read_classification(cut)  # chosen by its name, so the tar reader's error is shown
    huge = tmp_path / "huge.tar"
    with tarfile.open(huge, "w") as tar:
        info = tarfile.TarInfo("train/cat/big.png")
        info.size = 4097
        tar.addfile(info, io.BytesIO(bytes(info.size)))
    monkeypatch.setattr(folders, "MAX_MEMBER_BYTES", 4096)  # the 64 MiB cap, scaled down
    with pytest.raises(DatasetError, match=r"member train/cat/big\.png: 4097 bytes, more than"):
        read_image_tar(huge)
    mixed = tmp_path / "mixed.tar"
    with tarfile.open(mixed, "w") as tar:
        tar.add(tmp_path / "tree" / "cat" / "0000.png", arcname="a/cat/0000.png")
        tar.add(tmp_path / "tree" / "dog" / "0000.png", arcname="b/x/dog/0000.png")
    with pytest.raises(DatasetError, match="images sit at different depths"):
        read_image_tar(mixed)


# ---------------------------------------------------------------- CIFAR-10 binary version


def _binary_records(images: np.ndarray, labels: np.ndarray) -> bytes:
    """The format description, literally: label byte, then R, G, B planes, row-major."""
    out = bytearray()
    for im, lab in zip(images, labels, strict=True):
        out.append(int(lab))
        for ch in range(3):
            for row in range(32):
                out.extend(bytes(int(v) for v in im[row, :, ch]))
    return bytes(out)


NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def _binary_dir(tmp_path: Path) -> tuple[Path, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    folder = tmp_path / "cifar-10-batches-bin"
    folder.mkdir()
    (folder / "batches.meta.txt").write_text("\n".join(NAMES) + "\n\n")
    images, labels = _rgb(rng, 7), rng.integers(0, 10, 7)
    (folder / "data_batch_1.bin").write_bytes(_binary_records(images[:4], labels[:4]))
    (folder / "data_batch_2.bin").write_bytes(_binary_records(images[4:], labels[4:]))
    return folder, images, labels


def test_cifar_binary_matches_hand_laid_records(tmp_path):
    folder, images, labels = _binary_dir(tmp_path)
    for reader in (read_cifar10_binary, read_classification):
        x, y, names = reader(folder)
        np.testing.assert_array_equal(x, images)
        np.testing.assert_array_equal(y, labels)
        assert names == NAMES
    x1, _, _ = read_cifar10_binary(folder / "data_batch_2.bin")
    np.testing.assert_array_equal(x1, images[4:])


def test_cifar_binary_truncated_and_bad_label_name_offset(tmp_path):
    folder, _, _ = _binary_dir(tmp_path)
    path = folder / "data_batch_1.bin"
    raw = path.read_bytes()
    path.write_bytes(raw[:-100])  # record 3 of 4 cut short: starts at byte 3 * 3073
    with pytest.raises(
        DatasetError, match=r"data_batch_1\.bin: byte 9219: .*record 3 is cut short"
    ):
        read_cifar10_binary(folder)
    bad = bytearray(raw)
    bad[2 * 3073] = 12  # label of record 2; only 10 names
    path.write_bytes(bytes(bad))
    with pytest.raises(DatasetError, match=r"data_batch_1\.bin: byte 6146: label 12"):
        read_cifar10_binary(folder)
    (folder / "batches.meta.txt").unlink()
    with pytest.raises(DatasetError, match=r"batches\.meta\.txt: missing"):
        read_cifar10_binary(folder)


# ---------------------------------------------------------------- CIFAR-10 python version


def _python_dir(tmp_path: Path, protocol: int = 2) -> tuple[Path, np.ndarray, list[int]]:
    rng = np.random.default_rng(4)
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    meta = {
        b"num_cases_per_batch": 5,
        b"label_names": [n.encode() for n in NAMES],
        b"num_vis": 3072,
    }
    (folder / "batches.meta").write_bytes(pickle.dumps(meta, protocol=protocol))
    images = _rgb(rng, 5)
    rows = images.transpose(0, 3, 1, 2).reshape(5, 3072)  # R, G, B planes, row-major
    labels = [int(v) for v in rng.integers(0, 10, 5)]
    batch = {
        b"batch_label": b"training batch 1 of 5",
        b"labels": labels,
        b"data": rows,
        b"filenames": [f"img_{k}.png".encode() for k in range(5)],
    }
    (folder / "data_batch_1").write_bytes(pickle.dumps(batch, protocol=protocol))
    return folder, images, labels


@pytest.mark.parametrize("protocol", [2, 3])
def test_cifar_python_walker_equals_pickle_loads(tmp_path, protocol):
    folder, images, labels = _python_dir(tmp_path, protocol)
    raw = (folder / "data_batch_1").read_bytes()
    ref = pickle.loads(raw, encoding="bytes")
    got = walk_pickle(folder / "data_batch_1")
    assert set(got) == set(ref)
    np.testing.assert_array_equal(got[b"data"], ref[b"data"])
    assert got[b"data"].dtype == ref[b"data"].dtype
    for key in (b"batch_label", b"labels", b"filenames"):
        assert got[key] == ref[key]
    for reader in (read_cifar10_python, read_classification):
        x, y, names = reader(folder)
        np.testing.assert_array_equal(x, images)
        assert y.tolist() == labels and names == NAMES


def test_python2_style_strings_equal_pickle_loads(tmp_path):
    # what Python 2's cPickle writes for str (SHORT_BINSTRING 'U', BINSTRING 'T'), by hand
    raw = (
        b"\x80\x02}q\x00(U\x06labelsq\x01]q\x02(K\x01M\x00\x01eU\x08filenameq\x03"
        b"T\x03\x00\x00\x00abcq\x04U\x04copyh\x02u."
    )
    path = tmp_path / "py2"
    path.write_bytes(raw)
    assert walk_pickle(path) == pickle.loads(raw, encoding="bytes")


def _py2_str(b: bytes) -> bytes:
    """Python 2 ``str`` as cPickle writes it: SHORT_BINSTRING, or BINSTRING from 256 bytes."""
    if len(b) < 256:
        return b"U" + bytes([len(b)]) + b
    return b"T" + struct.pack("<I", len(b)) + b


def _py2_batch(rows: np.ndarray, labels: list[int], label: bytes) -> bytes:
    """The official files' layout as Python 2's cPickle (protocol 2) writes it, opcode by
    opcode (pickletools' opcode table): keys and the pixel payload are BINSTRINGs, the dtype
    state carries b"|", memo puts as cPickle emits them."""
    small = lambda v: b"K" + bytes([v]) if v < 256 else b"M" + struct.pack("<H", v)  # noqa: E731
    n, d = rows.shape
    array = (
        b"cnumpy.core.multiarray\n_reconstruct\nq\x01cnumpy\nndarray\nq\x02K\x00\x85q\x03"
        + _py2_str(b"b")
        + b"\x87q\x04Rq\x05(K\x01"
        + small(n)
        + small(d)
        + b"\x86q\x06cnumpy\ndtype\nq\x07"
        + _py2_str(b"u1")
        + b"K\x00K\x01\x87q\x08Rq\x09(K\x03"
        + _py2_str(b"|")
        + b"NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tq\nb\x89"
        + _py2_str(rows.tobytes())
        + b"tq\x0bb"
    )
    return (
        b"\x80\x02}q\x00("
        + _py2_str(b"data")
        + array
        + _py2_str(b"labels")
        + b"]q\x0c("
        + b"".join(small(v) for v in labels)
        + b"e"
        + _py2_str(b"batch_label")
        + _py2_str(label)
        + b"u."
    )


def test_python2_official_layout_equals_pickle_loads(tmp_path):
    rng = np.random.default_rng(5)
    images, labels = _rgb(rng, 3), [3, 0, 9]
    rows = images.transpose(0, 3, 1, 2).reshape(3, 3072)
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    raw = _py2_batch(rows, labels, b"training batch 1 of 5")
    (folder / "data_batch_1").write_bytes(raw)
    names = b"".join(_py2_str(n.encode()) for n in NAMES)
    meta = b"\x80\x02}q\x00(" + _py2_str(b"label_names") + b"]q\x01(" + names + b"eu."
    (folder / "batches.meta").write_bytes(meta)
    ref = pickle.loads(raw, encoding="bytes")  # how the CIFAR page says to load them
    got = walk_pickle(folder / "data_batch_1")
    assert got[b"labels"] == ref[b"labels"] and got[b"batch_label"] == ref[b"batch_label"]
    np.testing.assert_array_equal(got[b"data"], ref[b"data"])
    assert walk_pickle(folder / "batches.meta") == pickle.loads(meta, encoding="bytes")
    x, y, names_read = read_cifar10_python(folder)
    np.testing.assert_array_equal(x, images)
    assert y.tolist() == labels and names_read == NAMES


def _offset_of(raw: bytes, opname: str, arg: str = "") -> int:
    """Byte offset of the first `opname` opcode whose argument contains `arg` (pickletools)."""
    return next(
        pos for op, value, pos in pickletools.genops(raw) if op.name == opname and arg in str(value)
    )


class _Evil:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_foreign_global_refused_with_offset_and_never_run(tmp_path):
    marker = tmp_path / "ran"
    raw = pickle.dumps({b"labels": [1], b"data": _Evil(marker)}, protocol=2)
    path = tmp_path / "data_batch_1"
    path.write_bytes(raw)
    at = _offset_of(raw, "GLOBAL", "system")
    with pytest.raises(
        DatasetError, match=rf"data_batch_1: byte {at}: .*refers to (posix|os)\.system"
    ):
        _read_one(path)
    assert not marker.exists()


def _read_one(path: Path):
    (path.parent / "batches.meta").write_bytes(pickle.dumps({b"label_names": [b"a"]}, protocol=2))
    return read_cifar10_python(path)


def test_other_opcodes_and_protocols_refused(tmp_path):
    path = tmp_path / "data_batch_1"
    raw = pickle.dumps({b"x": {1, 2}}, protocol=4)  # protocol 4 + a set
    path.write_bytes(raw)
    with pytest.raises(DatasetError, match=r"data_batch_1: byte 0: pickle protocol 4"):
        _read_one(path)
    raw = pickle.dumps({"x": frozenset([1])}, protocol=2)  # frozenset via GLOBAL builtins
    path.write_bytes(raw)
    with pytest.raises(
        DatasetError,
        match=rf"byte {_offset_of(raw, 'GLOBAL', 'frozenset')}: .*__builtin__\.frozenset",
    ):
        _read_one(path)
    raw = b"\x80\x02(i__main__\nX\n."  # INST: never part of the layout
    path.write_bytes(raw)
    with pytest.raises(DatasetError, match=r"byte 3: pickle opcode b'i' \(0x69\) is not part"):
        _read_one(path)


def test_truncated_python_batch_named(tmp_path):
    folder, _, _ = _python_dir(tmp_path)
    path = folder / "data_batch_1"
    raw = path.read_bytes()
    for cut in (len(raw) // 2, len(raw) - 1):
        path.write_bytes(raw[:cut])
        with pytest.raises(DatasetError, match=r"data_batch_1: byte \d+: .*truncated"):
            read_cifar10_python(folder)


def test_python_batch_with_wrong_layout_named(tmp_path):
    folder, _, _ = _python_dir(tmp_path)
    bad = {b"labels": [1, 2], b"data": np.zeros((3, 3072), np.uint8)}
    (folder / "data_batch_1").write_bytes(pickle.dumps(bad, protocol=2))
    with pytest.raises(DatasetError, match=r"data_batch_1: 2 labels for 3 images"):
        read_cifar10_python(folder)
    bad = {b"labels": [1], b"data": np.zeros((1, 3072), np.float32)}
    (folder / "data_batch_1").write_bytes(pickle.dumps(bad, protocol=2))
    with pytest.raises(DatasetError, match=r"data_batch_1: data is float32"):
        read_cifar10_python(folder)


# ---------------------------------------------------------------- split, tiny set, boundary


def test_stratified_split_cifar_default_500_per_class():
    y = np.repeat(np.arange(10), 5000)
    np.random.default_rng(0).shuffle(y)
    tr, va = stratified_split(y, 0.1, seed=0)
    assert np.bincount(y[va]).tolist() == [500] * 10
    assert len(np.intersect1d(tr, va)) == 0 and len(tr) + len(va) == y.size
    np.testing.assert_array_equal(np.sort(np.concatenate([tr, va])), np.arange(y.size))
    _, va2 = stratified_split(y, 5000, seed=0)
    np.testing.assert_array_equal(va, va2)  # int and fraction agree; same seed -> same split
    _, va3 = stratified_split(y, 0.1, seed=1)
    assert not np.array_equal(va, va3)


def test_stratified_split_imbalanced_largest_remainder():
    y = np.repeat(np.arange(3), [50, 30, 20])
    _, va = stratified_split(y, 15, seed=0)
    # by hand: 15 * (50, 30, 20) / 100 = 7.5, 4.5, 3.0 -> floors 7, 4, 3 (14); one more to the
    # largest remainder, 0.5 tied between classes 0 and 1 -> the lower label
    assert np.bincount(y[va], minlength=3).tolist() == [8, 4, 3]
    for bad in (0, 100, 1.0, -0.1, True):
        with pytest.raises(DatasetError):
            stratified_split(y, bad)


def test_epoch_batches_cover_flip_and_resume():
    x, y, _ = tiny_digits(per_class=3, seed=0)
    got = list(epoch_batches(x, y, batch_size=7, seed=2, epoch=1))
    assert [len(b[1]) for b in got] == [7, 7, 7, 7, 2]
    xs, ys = np.concatenate([b[0] for b in got]), np.concatenate([b[1] for b in got])
    # every image once: match each output to its source, as itself or mirrored (np.flip)
    used, flipped = [], 0
    for im, lab in zip(xs, ys, strict=True):
        same = np.flatnonzero((x == im).all(axis=(1, 2, 3)))
        mirror = np.flatnonzero((x == np.flip(im, axis=1)).all(axis=(1, 2, 3)))
        k = same[0] if same.size else mirror[0]
        flipped += not same.size
        assert y[k] == lab
        used.append(k)
    assert sorted(used) == list(range(30))
    assert 5 <= flipped <= 25  # p = 0.5 over 30 images: outside 5..25 has probability < 2e-4
    resumed = list(epoch_batches(x, y, batch_size=7, seed=2, epoch=1, start_step=3))
    for a, b in zip(got[3:], resumed, strict=True):
        np.testing.assert_array_equal(a[0], b[0])
    other = next(epoch_batches(x, y, batch_size=7, seed=2, epoch=2))
    assert not np.array_equal(other[1], got[0][1]) or not np.array_equal(other[0], got[0][0])
    plain = np.concatenate([b[0] for b in epoch_batches(x, y, flip=0.0, shuffle=False)])
    np.testing.assert_array_equal(plain, x)


def test_epoch_batches_shift_is_a_zero_filled_translation():
    x, y, _ = tiny_digits(per_class=3, seed=0)
    x = x.copy()
    x[x == 0] = 1  # no zero pixels of its own: every 0 of a shifted image is fill
    base = list(epoch_batches(x, y, batch_size=7, seed=4, epoch=0))
    moved = list(epoch_batches(x, y, batch_size=7, seed=4, epoch=0, shift=3))
    # the same order and flips as without shift (the shifts are drawn after them)
    seen = set()
    for (xa, ya), (xb, yb) in zip(base, moved, strict=True):
        np.testing.assert_array_equal(ya, yb)
        for a, b in zip(xa, xb, strict=True):
            # find the offset by trying all 49: exactly the zero-padded crop (closed form)
            padded = np.pad(a, ((3, 3), (3, 3), (0, 0)))
            hits = [
                (dy, dx)
                for dy in range(-3, 4)
                for dx in range(-3, 4)
                if np.array_equal(padded[3 + dy : 3 + dy + 32, 3 + dx : 3 + dx + 32], b)
            ]
            assert len(hits) == 1
            seen.add(hits[0])
    assert len(seen) > 10  # 30 draws from 49 offsets: the shifts vary
    again = np.concatenate([b[0] for b in epoch_batches(x, y, batch_size=7, seed=4, shift=3)])
    np.testing.assert_array_equal(again, np.concatenate([b[0] for b in moved]))
    for bad in (-1, 32, 1.5, True):
        with pytest.raises(DatasetError, match="shift"):
            next(epoch_batches(x, y, shift=bad))


def test_tiny_digits_deterministic_labelled():
    x, y, names = tiny_digits(per_class=3, seed=0)
    assert x.shape == (30, 32, 32, 3) and x.dtype == np.uint8
    assert np.bincount(y).tolist() == [3] * 10 and names == [str(d) for d in range(10)]
    np.testing.assert_array_equal(x, tiny_digits(per_class=3, seed=0).images)
    assert not np.array_equal(x, tiny_digits(per_class=3, seed=1).images)


def test_readers_import_no_tensorflow(tmp_path):
    _write_tree(tmp_path / "tree")
    code = (
        "import sys, jndtf.data.classification as c\n"
        f"c.read_classification({str(tmp_path / 'tree')!r}); c.tiny_digits(1)\n"
        "heavy = [m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras')]\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


CIFAR_TAR = (
    Path(__file__).resolve().parents[2] / "shared/data/cifar10-train/cifar10-train-jpg75.tar.gz"
)


@pytest.mark.slow
@pytest.mark.skipif(not CIFAR_TAR.is_file(), reason="the shipped CIFAR-10 archive is not here")
def test_real_cifar10_archive_streamed():
    """All 50,000 images of the shipped archive (~5-7 s on 2 cores); a sample of members is
    checked against OpenCV decoding the member extracted by tarfile's random access."""
    x, y, names = read_image_tar(CIFAR_TAR)
    assert x.shape == (50000, 32, 32, 3) and names[0] == "airplane" and names[-1] == "truck"
    assert np.bincount(y).tolist() == [5000] * 10  # README: 5,000 per class
    _, va = stratified_split(y, 0.1, seed=0)
    assert np.bincount(y[va]).tolist() == [500] * 10  # the 5,000-image validation split
    with tarfile.open(CIFAR_TAR, "r:gz") as tar:
        for label, stem in ((0, "0000"), (3, "2718"), (9, "4999")):
            raw = tar.extractfile(f"train/{names[label]}/{stem}.jpg").read()
            ref = cv2.cvtColor(cv2.imdecode(np.frombuffer(raw, np.uint8), 1), cv2.COLOR_BGR2RGB)
            # files are 0000..4999 per class, so the sorted position is the stem's number
            np.testing.assert_array_equal(x[label * 5000 + int(stem)], ref)
