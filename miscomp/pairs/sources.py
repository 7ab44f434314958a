"""Sources of pairs: where each original's reconstruction comes from.

- :class:`CodecSource`: a codec that miscomp runs (compress → real bitstream → decompress), so bpp is
  measured from bytes.
- :class:`ExistingOutputs`: reconstructions made elsewhere, by any codec (HiFiC, CDC, JPEG AI …),
  matched to originals by file stem (optionally through a pattern such as ``{stem}_rec``). Sizes come
  from a bitstream folder (file size of the matching stem) or a sidecar CSV with columns ``stem`` and
  ``bytes`` or ``bpp``; without either, bpp is unknown (recorded as null).

Both give the scan the same thing: a ``tag`` for pair ids and folders, the parameters and facts to
record, and :meth:`reconstruct`, from an original to a :class:`~miscomp.codecs.CodecOutput`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd

from miscomp.codecs.base import Codec, CodecOutput, safe_tag
from miscomp.errors import CodecError, ImageError
from miscomp.io import DEFAULT_MAX_PIXELS, IMAGE_SUFFIXES, read_image


class PairSource(Protocol):
    name: str  # recorded in the pair's ``codec`` column
    bitstream_suffix: str

    @property
    def tag(self) -> str: ...

    def params(self) -> dict[str, Any]: ...

    def info(self) -> dict[str, Any]: ...

    def reconstruct(self, rgb: np.ndarray, original: Path) -> CodecOutput: ...


@dataclass
class CodecSource:
    """A codec miscomp runs on every original."""

    codec: Codec

    @property
    def name(self) -> str:
        return self.codec.name

    @property
    def bitstream_suffix(self) -> str:
        return self.codec.bitstream_suffix

    @property
    def tag(self) -> str:
        return self.codec.tag

    def params(self) -> dict[str, Any]:
        return self.codec.params()

    def info(self) -> dict[str, Any]:
        return self.codec.info()

    def reconstruct(self, rgb: np.ndarray, original: Path) -> CodecOutput:
        return self.codec.apply(rgb)


@dataclass
class ExistingOutputs:
    """Reconstructions made by any codec, read from a folder and matched to originals by stem."""

    reconstructions: Path
    label: str = "external"  # the codec's name as the user wants it in results, e.g. "hific-lo"
    pattern: str = "{stem}"  # reconstruction stem for an original's stem
    bitstreams: Path | None = None
    sizes_csv: Path | None = None
    max_pixels: int = DEFAULT_MAX_PIXELS
    _sizes: dict[str, tuple[str, float]] = field(default_factory=dict, init=False, repr=False)

    name = "external"
    bitstream_suffix = ".bin"

    def __post_init__(self) -> None:
        self.reconstructions = Path(self.reconstructions)
        if self.reconstructions.is_file():
            raise CodecError(f"{self.reconstructions}: is a file; --reconstructions takes a folder of images")
        if not self.reconstructions.is_dir():
            raise CodecError(f"{self.reconstructions}: reconstructions folder does not exist")
        if "{stem}" not in self.pattern:
            raise CodecError(f"--pattern {self.pattern!r} must contain {{stem}}")
        if self.sizes_csv:
            self._sizes = _read_sizes(Path(self.sizes_csv))

    @property
    def tag(self) -> str:
        return safe_tag(self.label)

    def params(self) -> dict[str, Any]:
        return {"label": self.label}

    def info(self) -> dict[str, Any]:
        return {"reconstructions": str(self.reconstructions), "pattern": self.pattern}

    def find(self, folder: Path, stem: str) -> Path | None:
        want = self.pattern.format(stem=stem)
        for path in sorted(folder.glob(f"{_glob_escape(want)}.*")):
            if path.stem == want and path.is_file():
                return path
        return None

    def reconstruct(self, rgb: np.ndarray, original: Path) -> CodecOutput:
        rec_path = self.find(self.reconstructions, original.stem)
        if rec_path is None or rec_path.suffix.lower() not in IMAGE_SUFFIXES:
            raise ImageError(
                original,
                f"no reconstruction named {self.pattern.format(stem=original.stem)}.* "
                f"in {self.reconstructions}",
            )
        rec = read_image(rec_path, max_pixels=self.max_pixels).rgb
        if rec.shape != rgb.shape:
            raise ImageError(
                rec_path,
                f"reconstruction is {rec.shape[1]}×{rec.shape[0]} but its original {original.name} is "
                f"{rgb.shape[1]}×{rgb.shape[0]}",
            )
        n_bytes = self._n_bytes(original.stem, rgb.shape[0] * rgb.shape[1])
        return CodecOutput(rec, None, n_bytes, info={"reconstruction": str(rec_path)})

    def _n_bytes(self, stem: str, n_pixels: int) -> int | None:
        if self.bitstreams:
            folder = Path(self.bitstreams)
            path = self.find(folder, stem) or self.find_exact(folder, stem)
            if path is not None:
                return path.stat().st_size
        # the CSV may name either the original's stem or the reconstruction's
        for key in (stem, self.pattern.format(stem=stem)):
            if key in self._sizes:
                kind, value = self._sizes[key]
                return int(value) if kind == "bytes" else round(value * n_pixels / 8)
        return None

    @staticmethod
    def find_exact(folder: Path, stem: str) -> Path | None:
        for path in sorted(folder.glob(f"{_glob_escape(stem)}.*")):
            if path.stem == stem and path.is_file():
                return path
        return None


def _glob_escape(text: str) -> str:
    return "".join(f"[{c}]" if c in "[]*?" else c for c in text)


def _read_sizes(path: Path) -> dict[str, tuple[str, float]]:
    try:
        table = pd.read_csv(path)
    except Exception as err:  # noqa: BLE001 - any parse failure is the user's file
        raise CodecError(f"{path}: cannot read sizes CSV: {err}") from None
    if "stem" not in table.columns or not ({"bytes", "bpp"} & set(table.columns)):
        raise CodecError(f"{path}: sizes CSV needs a 'stem' column and a 'bytes' or 'bpp' column")
    kind = "bytes" if "bytes" in table.columns else "bpp"
    return {str(s): (kind, float(v)) for s, v in zip(table["stem"], table[kind], strict=True)}
