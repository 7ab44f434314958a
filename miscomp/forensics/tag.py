"""Tag a run's reconstructions (or given image files) with that run's findings."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from miscomp.errors import MiscompError
from miscomp.findings import run_min_score, split_by_score
from miscomp.forensics.provenance import Analysis, SignerFiles, check_signer, tag_bytes
from miscomp.io import atomic_write_bytes

_FINDING_KEYS = ("finding_id", "detector", "category", "symbol", "score", "evidence")


@dataclass(frozen=True)
class TagResult:
    source: str
    output: str
    kind: str  # c2pa / xmp / error
    findings: int  # shown findings (score >= min_score) in the tag
    message: str = ""
    low_score: int = 0  # findings below min_score: counted in the tag, not listed


def _read_run(run_dir: Path) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    from miscomp.store import load_run

    if not (run_dir / "pairs.parquet").is_file() and not (run_dir / "parts").is_dir():
        raise MiscompError(f"{run_dir}: not a run directory (no pairs.parquet; run `miscomp scan` first)")
    run = load_run(run_dir)
    return run.pairs, run.findings, run.meta


# Boxes are objects, not [x, y, w, h]: c2pa-rs stores a JSON array of small integers as a CBOR byte
# string, which reads back as base64 text ('CgwUCA==' for [10, 12, 20, 8]).
def risk_for_pair(pair: pd.Series, model: Any, model_sha256: str, engine: Any = None) -> dict[str, Any]:
    """The risk regions of the pair's original for its codec and rate (``miscomp risk``), made from
    the original alone as an encoder would before coding it. ``model``: a loaded RiskModel; ``engine``:
    its text detector, loaded once per call (:func:`miscomp.study.features.text_engine`)."""
    from miscomp.io import read_image
    from miscomp.study.riskmap import map_original

    bpp = pair.get("bpp")
    if bpp is None or pd.isna(bpp) or not float(bpp) > 0:
        raise MiscompError(f"{pair['pair_id']}: no rate (bpp) recorded: cannot make its risk map")
    rgb = read_image(Path(str(pair["original"]))).rgb
    top_share = 0.05
    grid, _, regions = map_original(rgb, model, str(pair["codec"]), float(bpp), top_share, engine)
    return {
        "codec": str(pair["codec"]),
        "bpp": round(float(bpp), 4),
        "model_sha256": model_sha256,
        "cell": grid.cell,
        "top_share": top_share,
        "regions": [{"x": g.x, "y": g.y, "w": g.w, "h": g.h, "score": g.score} for g in regions],
    }


def analysis_for_pair(
    pair: pd.Series,
    findings: pd.DataFrame,
    info: dict[str, Any],
    min_score: float | None = None,
    risk: dict[str, Any] | None = None,
) -> Analysis:
    """The tag of one pair: its findings as the report shows them (score >= min_score, default the
    scan's); those below are only counted (``low_score``), as ordinary codec artefacts. ``risk``: the
    original's risk regions (:func:`risk_for_pair`), when the tag carries them."""
    threshold = run_min_score(info, min_score)
    rows, low = split_by_score(findings[findings["pair_id"] == pair["pair_id"]], threshold)
    items = [
        {
            **{k: (r[k].item() if hasattr(r[k], "item") else r[k]) for k in _FINDING_KEYS},
            "box": {k: int(r[k]) for k in ("x", "y", "w", "h")},
        }
        for _, r in rows.iterrows()
    ]
    # Detector names and package versions only: detector settings can hold local paths.
    # run.json is outside data: a detector entry may be a record or (older/foreign runs) a bare name
    detectors = [
        {"name": str(d.get("name", "") if isinstance(d, dict) else d)} for d in info.get("detectors") or []
    ]
    bpp = pair.get("bpp")
    return Analysis(
        codec=str(pair["codec"]),
        codec_tag=str(pair["codec_tag"]),
        bpp=None if bpp is None or pd.isna(bpp) else float(bpp),
        original_name=str(pair.get("original_name") or "") or Path(str(pair["original"])).name,
        original_sha256=str(pair["original_sha256"]),
        may_contain_miscompressions=bool(items),
        complete=pair["status"] == "ok",
        detectors=detectors,
        findings=items,
        low_score=len(low),
        min_score=threshold,
        versions=dict(info.get("versions", {})),
        risk=risk or {},
    )


def _inside(root: Path, rel: str) -> Path:
    """``root/rel``, refusing paths that leave ``root`` (run tables are untrusted input)."""
    path = (root / rel).resolve()
    if not path.is_relative_to(root.resolve()):
        raise MiscompError(f"{rel}: reconstruction path leaves the run directory")
    return path


def _original_exif(pair: pd.Series) -> bytes | None:
    from PIL import Image

    try:
        with Image.open(str(pair["original"])) as im:
            return im.info.get("exif") or None
    except OSError:
        return None


def _match(pairs: pd.DataFrame, image: Path, codec_tag: str | None) -> pd.Series:
    # the run's image id (its reconstruction's file name) or the original's file name
    names = (
        pairs["original_name"].fillna("").map(lambda n: Path(str(n)).stem)
        if "original_name" in pairs
        else None
    )
    hits = pairs[(pairs["image_id"] == image.stem) | (names == image.stem if names is not None else False)]
    if codec_tag:
        hits = hits[hits["codec_tag"] == codec_tag]
    if hits.empty:
        raise MiscompError(
            f"{image}: no pair in the run for image id {image.stem!r}"
            + (f" and codec {codec_tag!r}" if codec_tag else "")
        )
    if len(hits) > 1:
        tags = ", ".join(sorted(hits["codec_tag"]))
        raise MiscompError(
            f"{image}: the run has several codecs for {image.stem!r} ({tags}); give --codec-tag"
        )
    return hits.iloc[0]


def tag_run(
    run_dir: Path,
    out_dir: Path,
    signer: SignerFiles | None,
    images: list[Path] | None = None,
    codec_tag: str | None = None,
    keep_metadata: bool = False,
    risk: bool = False,
    risk_model: Path | None = None,
    min_score: float | None = None,
) -> list[TagResult]:
    """Tag every measured reconstruction of the run (or ``images``, matched to pairs by file stem).
    With ``risk``, each tag also carries the risk regions of its original (``org.miscomp.risk``).

    One file that fails becomes an error result and the others go on."""
    pairs, findings, info = _read_run(run_dir)
    model = None
    if risk:  # one model for the whole call (loaded and hashed once, not per image)
        from miscomp.io import file_sha256
        from miscomp.study.features import text_engine
        from miscomp.study.risk import RiskModel, default_model_path

        model_file = Path(risk_model) if risk_model else default_model_path()
        model = (RiskModel.load(model_file), file_sha256(model_file), text_engine())
    if signer is not None:
        check_signer(signer)  # a certificate that cannot sign: one error, not one per image
    measured = pairs[pairs["status"].isin(["ok", "partial"])]
    if images:
        jobs: list[tuple[Path, pd.Series | MiscompError]] = []
        for img in images:
            try:
                jobs.append((img, _match(measured, img, codec_tag)))
            except MiscompError as err:
                jobs.append((img, err))
    else:
        if codec_tag:
            measured = measured[measured["codec_tag"] == codec_tag]
        jobs = []
        for _, pair in measured.iterrows():
            try:
                jobs.append((_inside(run_dir, str(pair["reconstruction"])), pair))
            except MiscompError as err:
                jobs.append((Path(str(pair["reconstruction"])), err))
    results = []
    for src, pair in jobs:
        if isinstance(pair, MiscompError):
            results.append(TagResult(str(src), "", "error", 0, str(pair)))
            continue
        dest = out_dir / str(pair["codec_tag"]) / src.name
        try:
            regions = risk_for_pair(pair, *model) if model else None
            analysis = analysis_for_pair(pair, findings, info, min_score, regions)
            exif = _original_exif(pair) if keep_metadata else None
            data, kind = tag_bytes(src.read_bytes(), analysis, src.name, signer, keep_metadata, exif)
            atomic_write_bytes(dest, data)
            results.append(
                TagResult(str(src), str(dest), kind, len(analysis.findings), "", analysis.low_score)
            )
        except OSError as err:
            results.append(TagResult(str(src), "", "error", 0, f"{src}: {err.strerror or err}"))
        except MiscompError as err:
            text = str(err)  # messages that already name the file keep one name
            results.append(
                TagResult(str(src), "", "error", 0, text if text.startswith(src.name) else f"{src}: {text}")
            )
    return results
