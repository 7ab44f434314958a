"""`miscomp risk`: the risk map of one original for one codec setting, from the original alone."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from miscomp.errors import MiscompError
from miscomp.study.features import CellGrid, cell_features
from miscomp.study.risk import MAP_FEATURES, RiskModel, RiskRegion, default_model_path, overlay, risk_regions


@dataclass(frozen=True)
class RiskMap:
    image: str
    codec: str
    bpp: float
    bpp_source: str  # "given" | "typical for <spec> in the model's training"
    model: str
    model_sha256: str
    cell: int
    top_share: float
    regions: list[RiskRegion]
    overlay_png: str
    note: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


def resolve_rate(model: RiskModel, spec: str, bpp: float | None) -> tuple[str, float, str]:
    """The codec name and rate to map: the codec must exist; without --bpp the model's typical rate
    for exactly this setting is used, else it is an error naming what to pass."""
    from miscomp.codecs import CODECS
    from miscomp.registry import parse_spec

    name, params = parse_spec(spec)
    entry = CODECS.get(name)  # unknown codec: one line listing the known ones
    entry.check_params("codec", params)
    if bpp is not None:
        if not bpp > 0:
            raise MiscompError(f"--bpp must be positive, got {bpp}")
        return name, float(bpp), "given"
    canon = name + (":" + ",".join(f"{k}={v}" for k, v in sorted(params.items())) if params else "")
    for known, rate in model.typical_bpp.items():
        kname, kparams = parse_spec(known)
        if kname == name and kparams == params:
            return name, rate, f"typical for {known} in the model's training"
    known = ", ".join(sorted(model.typical_bpp)) or "none"
    raise MiscompError(f"no rate for {canon}: pass --bpp (the model knows typical rates for: {known})")


def map_original(
    rgb, model: RiskModel, codec: str, bpp: float, top_share: float = 0.05, engine=None
) -> tuple[CellGrid, np.ndarray, list[RiskRegion]]:
    """The risk of every cell of an original for ``codec`` at ``bpp``, and its riskiest regions: what
    ``miscomp risk`` draws and ``miscomp tag --risk`` embeds. ``engine``: the text detector
    (:func:`~miscomp.study.features.text_engine`), loaded once for many originals."""
    grid = cell_features(rgb, MAP_FEATURES, engine=engine)
    risk = model.predict(grid.flat(), codec, bpp)
    return grid, risk, risk_regions(grid, risk, top_share)


def risk_map(
    image: Path,
    spec: str,
    bpp: float | None = None,
    out: Path | None = None,
    model_path: Path | None = None,
    top_share: float = 0.05,
) -> RiskMap:
    from miscomp.io import file_sha256, read_image, write_png

    model_path = Path(model_path) if model_path else default_model_path()
    model = RiskModel.load(model_path)
    name, rate, source = resolve_rate(model, spec, bpp)
    rgb = read_image(Path(image)).rgb
    grid, risk, regions = map_original(rgb, model, name, rate, top_share)
    out = Path(out) if out is not None else Path(image).with_suffix("").parent / "risk"
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise MiscompError(f"{out}: cannot write the risk map ({err.strerror})") from None
    stem = Path(image).stem
    png = out / f"{stem}.risk.png"
    write_png(png, overlay(rgb, grid, risk, regions))
    note = "" if name in model.codecs else f"{name} was not in the model's training: shared terms only"
    result = RiskMap(
        image=str(image),
        codec=spec,
        bpp=rate,
        bpp_source=source,
        model=str(model_path),
        model_sha256=file_sha256(model_path),
        cell=grid.cell,
        top_share=top_share,
        regions=regions,
        overlay_png=str(png),
        note=note,
    )
    from miscomp.io import atomic_write_text

    atomic_write_text(out / f"{stem}.risk.json", json.dumps(result.to_dict(), indent=1) + "\n")
    return result
