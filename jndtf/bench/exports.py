"""Speed-only exports for ``jndtf bench models``: one file per (format, frame size), reused.

Files are made by :func:`jndtf.export.export_model` (from the model
:func:`jndtf.evaluate.learned.load_learned` reads, or for a family with its own input builder,
hmJND-Net, :func:`jndtf.export.inputs.load_family_model`'s) with ``parity=False`` and few int8
calibration crops (the latency of an int8 model does not depend on how well it was calibrated,
and calibrating at 1280x720 is slow); their manifests say so (``calibration.crops``). Such an
int8 file is for timing: export a deployable one with ``jndtf.export`` and its parity check.

In a kept folder (``--export-dir``) a file is reused when :func:`jndtf.export.verify` accepts it
and its manifest names the same format, input size and source ``.keras`` sha256.

Example:
    >>> cache = ExportCache(model_source("acol"), Path("out/exports"), num_calibration=4)
    >>> cache.get("tflite-int8", (360, 640))     # out/exports/acol-640x360-tflite-int8.tflite
"""

from __future__ import annotations

from pathlib import Path

from jndtf.bench.source import ModelSource


class ExportCache:
    """Exports the source model on demand, one fixed-size (or dynamic) file per format.

    Args:
        source: the model (its ``keras_ref`` is loaded once, on the first export).
        folder: where the files go (created).
        num_calibration: int8 calibration crops.
    """

    def __init__(self, source: ModelSource, folder: Path, *, num_calibration: int = 4):
        if source.keras_ref is None:
            raise ValueError(f"{source.name}: no Keras model to export from")
        self.source = source
        self.folder = Path(folder)
        self.num_calibration = int(num_calibration)
        self.reused: list[Path] = []  # files found in the folder from an earlier run
        self._made: dict[tuple, Path] = {}  # (format, size) -> file, this run
        self._learned = None
        self._source_sha = None

    def _load(self):
        """The Keras model to export: a family with its own input builder (hmJND-Net: RGB +
        modality maps) through the family loader (:func:`jndtf.export.inputs.load_family_model`,
        the export then builds its input from the manifest beside the ``.keras``), any other
        through :func:`jndtf.evaluate.learned.load_learned` (RGB + priors)."""
        from jndtf.evaluate.learned import load_learned
        from jndtf.export.inputs import load_family_model, uses_family_builder
        from jndtf.models.registry import available_models, get_model_spec

        preset = self.source.preset
        spec = get_model_spec(preset) if preset in available_models() else None
        if uses_family_builder(spec) and self.source.keras_path is not None:
            return load_family_model(self.source.keras_path, spec, name=self.source.name)
        return load_learned(self.source.keras_ref)

    def path_of(self, fmt: str, size: tuple[int, int] | None) -> Path:
        """``FOLDER/<model>-<WxH|dynamic>-<format><suffix>``."""
        from jndtf.export.formats import get_format

        f = get_format(fmt)
        where = "dynamic" if size is None else f"{size[0]}x{size[1]}"
        return self.folder / f"{self.source.name}-{where}-{f.name}{f.suffix}"

    def _reusable(self, path: Path, fmt: str, size: tuple[int, int] | None) -> bool:
        from jndtf.export import verify
        from jndtf.io import file_sha256

        if not path.is_file():
            return False
        try:
            m = verify(path)
        except ValueError:
            return False
        want = (
            {"policy": "dynamic", "height": None, "width": None}
            if size is None
            else {"policy": "fixed", "height": int(size[1]), "width": int(size[0])}
        )
        if self._source_sha is None and self.source.keras_path is not None:
            self._source_sha = file_sha256(self.source.keras_path)
        return (
            m.get("format") == fmt
            and m.get("input_size") == want
            and self._source_sha is not None
            and (m.get("source") or {}).get("sha256") == self._source_sha
        )

    def get(self, fmt: str, size: tuple[int, int] | None) -> Path:
        """The file of format `fmt` at `size` = (width, height) (None: dynamic), exported now
        unless a matching one is already in the folder.

        Raises:
            ValueError, ImportError, RuntimeError: from :func:`jndtf.export.export_model`.
        """
        key = (fmt, None if size is None else (int(size[0]), int(size[1])))
        if key in self._made:
            return self._made[key]
        path = self.path_of(fmt, size)
        if self._reusable(path, fmt, size):
            self.reused.append(path)
            self._made[key] = path
            return path
        from jndtf.export import export_model

        if self._learned is None:
            self._learned = self._load()
        stem = path.name[: -len(f"-{fmt}{path.suffix}")]
        (result,) = export_model(
            self._learned,
            [fmt],
            out_dir=self.folder,
            input_size=size,
            num_calibration=self.num_calibration,
            parity=False,
            name=stem,
            spec=self.source.preset,  # a .keras without manifest: its output kind, family...
        )
        self._made[key] = result.path
        return result.path


__all__ = ["ExportCache"]
