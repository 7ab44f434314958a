"""``external``: reconstructions made elsewhere, by any codec (HiFiC, CDC, JPEG AI …).

Reconstructions are matched to originals by file stem (optionally through a pattern such as
``{stem}_rec``). Sizes come from a bitstream folder (file size of the matching stem) or a sidecar CSV
with columns ``stem`` and ``bytes`` or ``bpp``; without either, bpp is unknown (recorded as null).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from miscomp.codecs.base import CODECS, Codec, CodecOutput
from miscomp.errors import CodecError, ImageError
from miscomp.imageio import IMAGE_SUFFIXES, read_image


@CODECS.register("external", family="external", needs_weights=False)
@dataclass
class External(Codec):
    """Reconstructions made by any codec, read from a folder and matched to originals by stem."""

    reconstructions: str = ""
    label: str = "external"  # the codec's name as the user wants it in results, e.g. "hific-lo"
    pattern: str = "{stem}"  # reconstruction stem for an original's stem
    bitstreams: str = ""
    sizes_csv: str = ""
    max_pixels: int = 64_000_000
    _sizes: dict[str, tuple[str, float]] = field(default_factory=dict, init=False, repr=False)

    name: ClassVar[str] = "external"

    def __post_init__(self) -> None:
        if not self.reconstructions:
            raise CodecError("external: give the folder of reconstructions (--reconstructions DIR)")
        if not Path(self.reconstructions).is_dir():
            raise CodecError(f"{self.reconstructions}: reconstructions folder does not exist")
        if self.sizes_csv:
            self._sizes = _read_sizes(Path(self.sizes_csv))

    def params(self) -> dict[str, Any]:
        return {"label": self.label}

    @property
    def tag(self) -> str:
        return "".join(c if c.isalnum() or c in "._-" else "_" for c in self.label)

    def compress(self, rgb: np.ndarray) -> bytes:
        raise CodecError("external: reconstructions are read from a folder, not encoded")

    def decompress(self, data: bytes) -> np.ndarray:
        raise CodecError("external: reconstructions are read from a folder, not decoded")

    def find(self, folder: Path, stem: str) -> Path | None:
        want = self.pattern.format(stem=stem)
        for path in sorted(folder.glob(f"{_glob_escape(want)}.*")):
            if path.stem == want and path.is_file():
                return path
        return None

    def apply(self, rgb: np.ndarray, source: Path | None = None) -> CodecOutput:
        if source is None:
            raise CodecError("external: needs the original's path to find its reconstruction")
        rec_path = self.find(Path(self.reconstructions), source.stem)
        if rec_path is None or rec_path.suffix.lower() not in IMAGE_SUFFIXES:
            raise ImageError(
                source,
                f"no reconstruction named {self.pattern.format(stem=source.stem)}.* "
                f"in {self.reconstructions}",
            )
        rec = read_image(rec_path, max_pixels=self.max_pixels).rgb
        if rec.shape != rgb.shape:
            raise ImageError(
                rec_path,
                f"reconstruction is {rec.shape[1]}×{rec.shape[0]} but its original {source.name} is "
                f"{rgb.shape[1]}×{rgb.shape[0]}",
            )
        n_bytes = self._n_bytes(source.stem, rgb.shape[0] * rgb.shape[1])
        return CodecOutput(rec, None, n_bytes, info={"reconstruction": str(rec_path)})

    def _n_bytes(self, stem: str, n_pixels: int) -> int | None:
        if self.bitstreams:
            path = self.find(Path(self.bitstreams), self.pattern.format(stem=stem)) or self.find(
                Path(self.bitstreams), stem
            )
            if path is not None:
                return path.stat().st_size
        # the CSV may name either the original's stem or the reconstruction's
        for key in (stem, self.pattern.format(stem=stem)):
            if key in self._sizes:
                kind, value = self._sizes[key]
                return int(value) if kind == "bytes" else round(value * n_pixels / 8)
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
