"""The HTML report of a run directory: one file an examiner can open offline and judge by eye.

``render_report(run_dir)`` reads run.json, pairs.parquet and findings.parquet and writes
RUN_DIR/report.html (jinja2 template ``miscomp/report/templates/report.html.j2``, plots by matplotlib Agg).
Images are embedded as data: URIs while the run is small, so the file can be mailed on its own;
above ``EMBED_LIMIT_BYTES`` they are linked by relative path instead, because a 500-finding run
embedded is tens of MB that the browser must parse before the first paint (benchmarks/report_size.py).
"""

from __future__ import annotations

import base64
import io
import json
import math
import os
import urllib.parse
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from miscomp.findings import FINDING_COLUMNS, Category, run_min_score, split_by_score
from miscomp.forensics.impact import impact_curves, impact_figure_png
from miscomp.io import atomic_write_text
from miscomp.report.rdplot import rd_figure_png
from miscomp.store import RunData, load_run

ImageMode = Literal["auto", "embed", "link"]
EMBED_LIMIT_BYTES = 8_000_000
PREVIEW_MAX_SIDE = 800  # embedded per-image previews; crops are never re-encoded
_CROP_KINDS = (("original", "crop_original"), ("reconstruction", "crop_reconstruction"),
               ("amplified difference", "crop_diff"))  # fmt: skip


def load_run_dir(run_dir: Path) -> RunData:
    """The run as the report shows it: :func:`miscomp.store.load_run`, sorted and with display types."""
    run = load_run(run_dir)
    return replace(run, pairs=_normalise_pairs(run.pairs), findings=_normalise_findings(run.findings))


def _normalise_pairs(df: pd.DataFrame) -> pd.DataFrame:
    df = df.copy()
    for col in ("pair_id", "image_id", "codec", "codec_tag", "status", "error", "original", "reconstruction"):
        df[col] = df[col].fillna("").astype(str) if col in df else ""
    for col in ("bpp", "psnr", "ms_ssim", "width", "height", "n_findings"):
        df[col] = pd.to_numeric(df[col], errors="coerce").astype(float) if col in df else math.nan
    df["status"] = df["status"].replace("", "ok")
    df["codec_tag"] = df["codec_tag"].where(df["codec_tag"] != "", df["codec"])
    return df


def _normalise_findings(df: pd.DataFrame) -> pd.DataFrame:
    df = df.copy()
    for col in FINDING_COLUMNS:
        if col not in df:
            df[col] = "" if col not in ("x", "y", "w", "h", "score", "symbol") else 0
    df["symbol"] = df["symbol"].fillna(False).astype(bool)
    df["score"] = pd.to_numeric(df["score"], errors="coerce").fillna(0.0)
    for col in ("evidence", "details", "crop_original", "crop_reconstruction", "crop_diff"):
        df[col] = df[col].fillna("").astype(str)
    # Symbol findings first (a changed digit matters more than any amplitude shift), then by score.
    return df.sort_values(["symbol", "score", "finding_id"], ascending=[False, False, True]).reset_index(
        drop=True
    )


@dataclass
class ImageRefs:
    """Turns files of the run into ``src`` values: data: URIs (embed) or paths relative to the page."""

    page_dir: Path
    embed: bool
    missing: list[str] = field(default_factory=list)

    def crop(self, path: Path) -> str | None:
        if not path.is_file():
            self.missing.append(str(path))
            return None
        if self.embed:
            return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")
        return self._relative(path)

    def preview(self, path: Path) -> str | None:
        if not path.is_file():
            return None
        if not self.embed:
            return self._relative(path)
        from PIL import Image

        # A locator view, not evidence: downscaled JPEG keeps an embedded report small.
        with Image.open(path) as im:
            im = im.convert("RGB")
            im.thumbnail((PREVIEW_MAX_SIDE, PREVIEW_MAX_SIDE))
            buf = io.BytesIO()
            im.save(buf, format="JPEG", quality=88)
        return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")

    def _relative(self, path: Path) -> str:
        rel = os.path.relpath(path.resolve(), self.page_dir.resolve())
        return urllib.parse.quote(Path(rel).as_posix())


def _crop_paths(run: RunData) -> Iterable[Path]:
    for col in ("crop_original", "crop_reconstruction", "crop_diff"):
        for rel in run.findings[col]:
            if rel:
                yield run.run_dir / rel


def choose_embed(run: RunData, mode: ImageMode) -> bool:
    if mode != "auto":
        return mode == "embed"
    total = sum(p.stat().st_size for p in _crop_paths(run) if p.is_file())
    total += 120_000 * run.findings["pair_id"].nunique()  # typical embedded preview size
    return total <= EMBED_LIMIT_BYTES


def render_report(
    run_dir: Path, out: Path | None = None, *, images: ImageMode = "auto", min_score: float | None = None
) -> Path:
    """Write the HTML report of ``run_dir`` to ``out`` (default RUN_DIR/report.html) and return it.

    Findings scoring below ``min_score`` (default: the scan's, see :func:`run_min_score`) are counted
    in the summary as low-score artefacts but get no card; findings.parquet keeps them all."""
    run = load_run_dir(Path(run_dir))
    out = Path(out) if out is not None else run.run_dir / "report.html"
    out.parent.mkdir(parents=True, exist_ok=True)
    threshold = run_min_score(run.meta, min_score)
    shown_df, low = split_by_score(run.findings, threshold)
    shown = replace(run, findings=shown_df)
    refs = ImageRefs(out.parent, embed=choose_embed(shown, images))
    context = build_context(shown, refs)
    context["totals"]["low_score"] = len(low)
    context["min_score"] = threshold
    low_tags = low["pair_id"].map(shown.pairs.set_index("pair_id")["codec_tag"])
    for row in context["codec_rows"]:
        row["low_score"] = int((low_tags == row["tag"]).sum())
    html = _template().render(**context)
    atomic_write_text(out, html)
    return out


def _template():
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["num"] = _num
    return env.get_template("report.html.j2")


def _num(value: Any, digits: int = 2) -> str:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return "—"
    return "—" if math.isnan(v) else f"{v:.{digits}f}"


def build_context(run: RunData, refs: ImageRefs) -> dict[str, Any]:
    pairs, findings = run.pairs, run.findings
    ok = pairs[pairs["status"].isin(["ok", "partial"])]
    pair_info = pairs.set_index("pair_id", drop=False)
    cats = [c.value for c in Category]
    cards = [_card(run, refs, pair_info, rank, row) for rank, row in enumerate(findings.itertuples(), 1)]
    rd_png, rd_notes = rd_figure_png(ok, findings, run.meta)
    impact = impact_curves(pairs, findings)
    prevalence_rows, prevalence_png = _prevalence(pairs, findings)
    return {
        "title": run.meta.get("title") or run.run_dir.resolve().name,
        "run_path": str(run.run_dir.resolve()),
        "generated": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "version": str(run.meta.get("miscomp_version") or ""),
        "notes": list(run.notes),
        "embedded": refs.embed,
        "totals": {
            "images": pairs["image_id"].nunique(),
            "codecs": pairs["codec_tag"].nunique(),
            "pairs": len(pairs),
            "pairs_ok": len(ok),
            "pairs_error": int((pairs["status"] == "error").sum()),
            "findings": len(findings),
            "symbol": int(findings["symbol"].sum()),
            "per_category": {c: int((findings["category"] == c).sum()) for c in cats},
        },
        "categories": cats,
        "codec_rows": _codec_rows(pairs, findings, pair_info, cats),
        "detector_rows": _detector_rows(findings, cats),
        "errors": _errors(pairs),
        "skipped": _skipped(run.meta),
        "rd_png": rd_png,
        "rd_notes": rd_notes,
        "impact": impact,
        "impact_png": impact_figure_png(impact),
        "prevalence": prevalence_rows,
        "prevalence_png": prevalence_png,
        "cards": cards,
        "pair_views": _pair_views(run, refs, cards),
        # per pair, the findings shown here (n_findings in pairs.parquet counts low-score ones too)
        "pairs_table": pairs.assign(
            n_findings=pairs["pair_id"].map(findings.groupby("pair_id").size()).fillna(0).astype(int)
        ).to_dict("records"),
        "filters": {
            "codec": sorted({c["codec_tag"] for c in cards}),
            "detector": sorted({c["detector"] for c in cards}),
        },
        "run_info": _run_info(run.meta),
        "missing_crops": len(refs.missing),
    }


def _prevalence(pairs: pd.DataFrame, findings: pd.DataFrame) -> tuple[list[dict[str, Any]], str | None]:
    """Raw prevalence per codec setting (the findings here are the shown ones), all and symbol."""
    from miscomp.errors import MiscompError
    from miscomp.study.prevalence import frame, prevalence
    from miscomp.study.run import prevalence_png_uri

    try:
        table = frame(prevalence(pairs, findings, 0.0, n_boot=500))
    except MiscompError:  # no measured pair: nothing to count
        return [], None
    rows = []
    for tag, grp in table[table["basis"] == "raw"].groupby("codec_tag", sort=True):
        by = grp.set_index("group")
        rows.append({"codec_tag": tag, **by.loc["all"].to_dict(), "symbol": by.loc["symbol"].to_dict()})
    return sorted(rows, key=lambda r: (r["codec"], r["bpp"])), prevalence_png_uri(table)


def _card(run: RunData, refs: ImageRefs, pair_info: pd.DataFrame, rank: int, row: Any) -> dict[str, Any]:
    pair = pair_info.loc[row.pair_id] if row.pair_id in pair_info.index else None
    crops = []
    for label, col in _CROP_KINDS:
        rel = getattr(row, col)
        crops.append({"label": label, "src": refs.crop(run.run_dir / rel) if rel else None})
    crop_box = _crop_box(row)
    view, layout = _view(crop_box, int(row.w), int(row.h))
    return {
        "rank": rank,
        "id": row.finding_id,
        "pair_id": row.pair_id,
        "image_id": pair["image_id"] if pair is not None else row.pair_id,
        "codec_tag": pair["codec_tag"] if pair is not None else "",
        "detector": row.detector,
        "category": row.category,
        "symbol": bool(row.symbol),
        "score": float(row.score),
        "box": (int(row.x), int(row.y), int(row.w), int(row.h)),
        "crop_box": crop_box,
        "view": view,
        "layout": layout,
        "evidence": row.evidence,
        "details": _pretty_json(row.details),
        "facts": _facts(row.details),  # the face/structure evidence (templates/channels.html.j2)
        "crops": crops,
    }


# A text line (box at least LINE_ASPECT times wider than high) is shown in a band around it, of
# LINE_BAND line heights (at least LINE_BAND_MIN px). When that band is still at least WIDE_VIEW times
# wider than high, the card stacks its three crops at full width ("wide"): side by side in a third of a
# card, a 280×10 px line (crop window 512×150) showed as 3 px high text in a mostly empty card. A crop
# at least FLAT_VIEW times wider than high keeps its crops side by side but across the whole card, with
# the text below ("flat"): beside the text, a 53×17 px caption's crops were 90 px high in a 330 px card.
LINE_ASPECT = 4.0
LINE_BAND = 3.0
LINE_BAND_MIN = 48
WIDE_VIEW = 4.0
FLAT_VIEW = 2.0


def _view(box: dict[str, int] | None, w: int, h: int) -> tuple[dict[str, int] | None, str]:
    """(the part of the crop shown, in crop pixels; the card's layout: "", "flat" or "wide")."""
    if box is None:
        return None, ""
    cw, ch, y = box["cw"], box["ch"], box["y"]
    full = {"x": 0, "y": 0, "w": cw, "h": ch}
    if h > 0 and w / h >= LINE_ASPECT:
        vh = min(ch, max(int(LINE_BAND * h), LINE_BAND_MIN))
        if cw / vh >= WIDE_VIEW:
            return {"x": 0, "y": min(max(0, y + h // 2 - vh // 2), ch - vh), "w": cw, "h": vh}, "wide"
    return full, "flat" if cw / ch >= FLAT_VIEW else ""


def _crop_box(row: Any) -> dict[str, int] | None:
    """The finding's box inside its crop window (the crops' own geometry, stored on the finding), for
    the SVG outline drawn over each crop; None for runs written before the window was stored."""
    cw, ch = int(getattr(row, "crop_w", 0) or 0), int(getattr(row, "crop_h", 0) or 0)
    if cw <= 0 or ch <= 0:
        return None
    x, y = int(row.x) - int(row.crop_x), int(row.y) - int(row.crop_y)
    return {"cw": cw, "ch": ch, "x": x, "y": y, "w": int(row.w), "h": int(row.h)}


def _facts(text: Any) -> dict[str, Any]:
    try:
        value = json.loads(text) if isinstance(text, str) and text else {}
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _pretty_json(text: str) -> str:
    if not text:
        return ""
    try:
        return json.dumps(json.loads(text), indent=1, sort_keys=True, ensure_ascii=False)
    except ValueError:
        return text


def _codec_rows(pairs, findings, pair_info, cats) -> list[dict[str, Any]]:
    tag_of = pair_info["codec_tag"].to_dict()
    f = findings.assign(codec_tag=findings["pair_id"].map(tag_of).fillna(""))
    rows = []
    for tag, group in pairs.groupby("codec_tag", sort=True):
        ok = group[group["status"].isin(["ok", "partial"])]
        ff = f[f["codec_tag"] == tag]
        params = (ok if len(ok) else group)["params"].iloc[0] if "params" in group else ""
        rows.append({
            "tag": tag,
            "codec": group["codec"].iloc[0],
            "params": _params_text(params),
            "pairs_ok": len(ok),
            "pairs_error": len(group) - len(ok),
            "bpp": ok["bpp"].mean() if ok["bpp"].notna().any() else math.nan,
            "psnr": ok["psnr"].mean(),
            "ms_ssim": ok["ms_ssim"].mean(),
            "findings": len(ff),
            "symbol": int(ff["symbol"].sum()),
            "per_category": {c: int((ff["category"] == c).sum()) for c in cats},
            "per_image": len(ff) / len(ok) if len(ok) else math.nan,
        })  # fmt: skip
    # Codecs with symbol findings first: they are what an examiner must look at.
    return sorted(rows, key=lambda r: (-r["symbol"], -r["findings"], r["tag"]))


def _params_text(params: Any) -> str:
    if isinstance(params, str) and params:
        try:
            params = json.loads(params)
        except ValueError:
            return params
    if isinstance(params, dict):
        return ", ".join(f"{k}={v}" for k, v in sorted(params.items()))
    return "" if params is None or (isinstance(params, float) and math.isnan(params)) else str(params)


def _detector_rows(findings: pd.DataFrame, cats: list[str]) -> list[dict[str, Any]]:
    rows = []
    for det, ff in findings.groupby("detector", sort=True):
        rows.append({"detector": det, "findings": len(ff), "symbol": int(ff["symbol"].sum()),
                     "per_category": {c: int((ff["category"] == c).sum()) for c in cats}})  # fmt: skip
    return rows


def _errors(pairs: pd.DataFrame) -> list[dict[str, str]]:
    """Pairs that could not be compared (error rows) or only in part (a detector failed)."""
    return [
        {
            "what": f"{r.image_id} · {r.codec_tag}",
            "file": r.original,
            "reason": r.error or "(no reason recorded)",
        }
        for r in pairs[pairs["status"] != "ok"].itertuples()
    ]


def _skipped(meta: dict[str, Any]) -> list[dict[str, str]]:
    """What the scan left out on purpose, with why (an optional codec without weights, a detector
    without its model, subfolders, files that are not images): notes in the summary, not errors."""
    rows = []
    for item in meta.get("skipped") or []:
        if isinstance(item, dict):
            path = str(item.get("path") or item.get("file") or item.get("original") or "")
            reason = str(item.get("reason") or item.get("error") or item.get("problem") or item)
            rows.append({"file": path, "reason": reason})
        else:
            rows.append({"file": "", "reason": str(item)})
    return rows


def _pair_views(run: RunData, refs: ImageRefs, cards: list[dict[str, Any]]) -> list[dict[str, Any]]:
    by_pair: dict[str, list[dict[str, Any]]] = {}
    for card in cards:
        by_pair.setdefault(card["pair_id"], []).append(card)
    info = run.pairs.set_index("pair_id", drop=False)
    views = []
    for pair_id, pcards in by_pair.items():
        pair = info.loc[pair_id] if pair_id in info.index else None
        rec = run.run_dir / pair["reconstruction"] if pair is not None and pair["reconstruction"] else None
        width, height = _pair_size(pair, rec, pcards)
        views.append({
            "pair_id": pair_id,
            "image_id": pcards[0]["image_id"],
            "codec_tag": pcards[0]["codec_tag"],
            "bpp": pair["bpp"] if pair is not None else math.nan,
            "psnr": pair["psnr"] if pair is not None else math.nan,
            "width": width,
            "height": height,
            "src": refs.preview(rec) if rec is not None else None,
            "boxes": pcards,
            "symbol": any(c["symbol"] for c in pcards),
        })  # fmt: skip
    views.sort(key=lambda v: (not v["symbol"], -len(v["boxes"]), v["pair_id"]))
    return views


def _pair_size(pair: Any, rec: Path | None, cards: list[dict[str, Any]]) -> tuple[int, int]:
    if pair is not None and not (math.isnan(pair["width"]) or math.isnan(pair["height"])):
        return int(pair["width"]), int(pair["height"])
    if rec is not None and rec.is_file():
        from PIL import Image

        with Image.open(rec) as im:
            return im.size
    # No size recorded and no image: the boxes' extent still shows where findings are relative to each other.
    return (max(c["box"][0] + c["box"][2] for c in cards), max(c["box"][1] + c["box"][3] for c in cards))


def _run_info(meta: dict[str, Any]) -> list[tuple[str, str]]:
    items = []
    for key in ("arguments", "detectors", "versions", "timings", "codecs"):
        if key in meta:
            items.append((key, json.dumps(meta[key], indent=1, sort_keys=True, default=str)))
    return items
