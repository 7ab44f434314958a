"""A :class:`~miscomp.pairs.PairRecord` with every column filled: empty text, ``None`` for what was
not measured, ``status="ok"``; keyword arguments set the columns a test cares about."""

from __future__ import annotations

import dataclasses

from miscomp.pairs import PairRecord
from miscomp.store import PAIR_COLUMNS

_NUMERIC = ("width", "height", "bytes", "bpp", "psnr", "ms_ssim", "encode_s", "decode_s", "detect_s")


def pair_record(pair_id: str, **columns) -> PairRecord:
    row: dict = dict.fromkeys(PAIR_COLUMNS, "")
    row.update(dict.fromkeys(_NUMERIC))
    row.update({f.name: None for f in dataclasses.fields(PairRecord) if f.default is None})
    row.update(pair_id=pair_id, image_id=pair_id.split("__")[0], params="{}", status="ok", n_findings=0)
    row.update(original_metadata="{}")
    row.update(columns)
    return PairRecord(**row)
