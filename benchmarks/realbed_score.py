"""Scoring a scan run dir against the real-codec test bed's labels (``datasets/realbed``).

Match rule (as benchmarks/detection_quality.py): a finding matches a label of the same image and codec
when IoU >= 0.1 or the finding's centre lies inside the label's box. :func:`score` returns the table
that ``benchmarks/real_codecs.py`` writes; other branches import it to score their own run dirs:

    from benchmarks.realbed_score import load_reviewed, score
    res = score(run_dir, reviewed=load_reviewed())   # res["table"], res["misses"], res["findings"]
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from benchmarks.realbed_build import DATASET, LABELS, pixel_sha256, read_manifest
from miscomp.export.realbed import COLUMNS

REVIEW = DATASET / "review.csv"

LABEL_COLUMNS = list(COLUMNS)  # labels.csv, as the dataset export reads it
KINDS = ("miscompression", "artefact")
CATEGORIES = ("amplitude", "geometry", "shape")
SPLITS = ("tune", "heldout")


# ---------------------------------------------------------------------------------------------------
# loading


def load_labels(path: Path = LABELS) -> pd.DataFrame:
    """labels.csv as a frame with typed columns; raises ValueError naming the first bad row."""
    df = pd.read_csv(
        path, dtype={"label_id": str, "image_id": str, "codec_tag": str, "note": str}, keep_default_na=False
    )
    missing = [c for c in LABEL_COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"{path}: missing columns {missing}")
    for c in ("x", "y", "w", "h"):
        df[c] = df[c].astype(int)
    df["symbol"] = df["symbol"].map(lambda v: str(v).strip().lower() in ("true", "1", "yes"))
    for col, allowed in (("kind", KINDS), ("category", CATEGORIES), ("split", SPLITS)):
        bad = df[~df[col].isin(allowed)]
        if len(bad):
            raise ValueError(
                f"{path}: label {bad.iloc[0]['label_id']}: {col} {bad.iloc[0][col]!r} not in {allowed}"
            )
    return df[LABEL_COLUMNS]


def load_reviewed(path: Path = REVIEW) -> set[tuple[str, str]]:
    """The (image_id, codec_tag) pairs whose labels are complete (every change was looked at)."""
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    return set(zip(df["image_id"], df["codec_tag"], strict=True))


def load_run(run_dir: Path, min_score: float | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(pairs, findings) of a scan run dir; findings carry their pair's image_id and codec_tag.

    Only findings scoring at least ``min_score`` are returned: by default the run's own minimum
    (run.json ``min_score``: what its report and Label Studio pushes show), 0 for runs made before
    scans had one."""
    from miscomp.store import load_run as read_run

    data = read_run(run_dir)
    pairs, findings = data.pairs, data.findings
    if min_score is None:
        min_score = float(data.meta.get("min_score") or 0.0)
    findings = findings[pd.to_numeric(findings["score"], errors="coerce").fillna(0.0) >= min_score]
    findings = findings.merge(pairs[["pair_id", "image_id", "codec_tag"]], on="pair_id", how="left")
    return pairs, findings


_ID_HASH = re.compile(r"-[0-9a-f]{8}$")


def canonical_ids(pairs: pd.DataFrame, known: set[str]) -> pd.DataFrame:
    """Map each pair's image id to the manifest's. miscomp names an original by a slug of its file
    stem plus a hash of its path (``scene_table1-1f0c2a9b``); the bed's originals are named
    ``<image_id>.png``, so the original's stem (or the id without its hash) is the manifest id."""

    def canon(row) -> str:
        for cand in (Path(str(row.original)).stem, str(row.image_id), _ID_HASH.sub("", str(row.image_id))):
            if cand in known:
                return cand
        return str(row.image_id)

    return pairs.assign(image_id=[canon(r) for r in pairs.itertuples()])


def check_reconstructions(run_dir: Path, pairs: pd.DataFrame, manifest: dict) -> list[str]:
    """Pairs whose reconstruction pixels differ from the labelled ones (or are unknown to the manifest)."""
    from miscomp.io import read_image

    known = {s["image_id"]: s.get("reconstructions", {}) for s in manifest["images"]}
    stale = []
    for row in pairs.itertuples():
        rec = known.get(row.image_id, {}).get(row.codec_tag)
        if rec is None:
            stale.append(f"{row.pair_id}: not in the manifest")
            continue
        if not row.reconstruction or row.status == "error":
            stale.append(f"{row.pair_id}: no reconstruction ({row.status})")
            continue
        path = (
            run_dir / row.reconstruction
            if not Path(row.reconstruction).is_absolute()
            else Path(row.reconstruction)
        )
        if not path.exists() or pixel_sha256(read_image(path).rgb) != rec["sha256"]:
            stale.append(f"{row.pair_id}: reconstruction differs from the labelled one")
    return stale


# ---------------------------------------------------------------------------------------------------
# matching and scoring


def matches(f: tuple[int, int, int, int], t: tuple[int, int, int, int]) -> bool:
    """IoU ≥ 0.1, or the finding's centre inside the label's box."""
    fx, fy, fw, fh = f
    tx, ty, tw, th = t
    ix = max(0, min(fx + fw, tx + tw) - max(fx, tx))
    iy = max(0, min(fy + fh, ty + th) - max(fy, ty))
    inter = ix * iy
    union = fw * fh + tw * th - inter
    if union and inter / union >= 0.1:
        return True
    cx, cy = fx + fw / 2, fy + fh / 2
    return tx <= cx < tx + tw and ty <= cy < ty + th


def match_run(findings: pd.DataFrame, labels: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Annotate findings (hit_miscompression, hit_symbol, hit_artefact, label_ids) and labels (found,
    symbol_found, predicted, category_ok, finding_ids), per (image_id, codec_tag)."""
    f_out = findings.copy()
    l_out = labels.copy()
    f_out["hit_miscompression"] = False
    f_out["hit_symbol"] = False
    f_out["hit_artefact"] = False
    f_out["label_ids"] = ""
    l_out["found"] = False
    l_out["symbol_found"] = False
    l_out["predicted"] = ""
    l_out["category_ok"] = None
    l_out["finding_ids"] = ""
    by_pair = {k: g for k, g in labels.groupby(["image_id", "codec_tag"])}
    label_hits: dict[int, list[int]] = {}
    for fi, f in findings.iterrows():
        g = by_pair.get((f["image_id"], f["codec_tag"]))
        if g is None:
            continue
        box = (int(f["x"]), int(f["y"]), int(f["w"]), int(f["h"]))
        hit = [li for li, lab in g.iterrows() if matches(box, (lab["x"], lab["y"], lab["w"], lab["h"]))]
        for li in hit:
            label_hits.setdefault(li, []).append(fi)
        kinds = labels.loc[hit, "kind"] if hit else pd.Series(dtype=str)
        mis = [li for li in hit if labels.at[li, "kind"] == "miscompression"]
        f_out.at[fi, "hit_miscompression"] = bool(mis)
        f_out.at[fi, "hit_symbol"] = any(labels.at[li, "symbol"] for li in mis)
        f_out.at[fi, "hit_artefact"] = bool(not mis and (kinds == "artefact").any())
        f_out.at[fi, "label_ids"] = ",".join(str(labels.at[li, "label_id"]) for li in hit)
    for li, fis in label_hits.items():
        hits = findings.loc[fis].sort_values("score", ascending=False)
        l_out.at[li, "found"] = True
        l_out.at[li, "symbol_found"] = bool(hits["symbol"].any())
        l_out.at[li, "predicted"] = str(hits.iloc[0]["category"])
        l_out.at[li, "category_ok"] = bool(hits.iloc[0]["category"] == labels.at[li, "category"])
        l_out.at[li, "finding_ids"] = ",".join(hits["finding_id"].astype(str))
    return f_out, l_out


def _ratio(num: float, den: float) -> float | None:
    return round(float(num) / float(den), 3) if den else None


def summarise(pairs: pd.DataFrame, findings: pd.DataFrame, labels: pd.DataFrame) -> dict:
    """Metrics of one group: pairs, matched findings (from match_run) and matched labels."""
    mis = labels[labels["kind"] == "miscompression"]
    sym = mis[mis["symbol"]]
    found = mis[mis["found"]]
    sym_f = findings[findings["symbol"]]
    return {
        "pairs": int(len(pairs)),
        "miscompressions": int(len(mis)),
        "symbol_miscompressions": int(len(sym)),
        "findings": int(len(findings)),
        "recall": _ratio(len(found), len(mis)),
        "symbol_recall": _ratio(int(sym["symbol_found"].sum()), len(sym)),
        "precision": _ratio(int(findings["hit_miscompression"].sum()), len(findings)),
        "text_precision": _ratio(int(sym_f["hit_symbol"].sum()), len(sym_f)),
        "artefact_share": _ratio(int(findings["hit_artefact"].sum()), len(findings)),
        "unlabelled_findings": int((~findings["hit_miscompression"] & ~findings["hit_artefact"]).sum()),
        "findings_per_pair": _ratio(len(findings), len(pairs)),
        "category_accuracy": _ratio(int(found["category_ok"].fillna(False).astype(bool).sum()), len(found)),
        "detect_s_per_pair": round(float(pairs["detect_s"].mean()), 3)
        if len(pairs) and "detect_s" in pairs
        else None,
    }


def score(
    run_dir: Path,
    labels: pd.DataFrame | None = None,
    manifest: dict | None = None,
    verify: bool = True,
    reviewed: set[tuple[str, str]] | None = None,
    min_score: float | None = None,
) -> dict:
    """Score a scan run dir against the test bed's labels. Returns {"table": [rows], "misses": [...],
    "findings": frame, "labels": frame, "stale": [...]}; rows have split, group ("all", "codec",
    "category"), name and the metrics of :func:`summarise`.

    Only pairs the run has (and whose reconstructions match the labelled pixels, when ``verify``) are
    scored; labels of other pairs are left out, and ``stale`` says which pairs were dropped. With
    ``reviewed`` (the pairs whose labels are complete, see :func:`load_reviewed`) only those are scored:
    precision means nothing on a pair whose changes were not all labelled. ``min_score``: see
    :func:`load_run` (default: the run's own).
    """
    labels = load_labels() if labels is None else labels
    manifest = read_manifest() if manifest is None else manifest
    pairs, findings = load_run(run_dir, min_score)
    pairs = canonical_ids(pairs, {spec["image_id"] for spec in manifest["images"]})
    findings = findings.drop(columns=["image_id"]).merge(
        pairs[["pair_id", "image_id"]], on="pair_id", how="left"
    )
    pairs = pairs[pairs["status"] != "error"]
    if reviewed is not None:
        keep = [(i, c) in reviewed for i, c in zip(pairs["image_id"], pairs["codec_tag"], strict=True)]
        pairs = pairs[keep]
    stale = check_reconstructions(run_dir, pairs, manifest) if verify else []
    stale_ids = {s.split(":")[0] for s in stale}
    pairs = pairs[~pairs["pair_id"].isin(stale_ids)]
    findings = findings[findings["pair_id"].isin(set(pairs["pair_id"]))]
    scored = set(zip(pairs["image_id"], pairs["codec_tag"], strict=True))
    labels = labels[[(i, c) in scored for i, c in zip(labels["image_id"], labels["codec_tag"], strict=True)]]
    split_of = {s["image_id"]: s["split"] for s in manifest["images"]}
    pairs = pairs.assign(split=pairs["image_id"].map(split_of))
    f, lab = match_run(findings.reset_index(drop=True), labels.reset_index(drop=True))
    f["split"] = f["image_id"].map(split_of)
    table = []
    for split in (*SPLITS, "all"):
        ps = pairs if split == "all" else pairs[pairs["split"] == split]
        fs = f if split == "all" else f[f["split"] == split]
        ls = lab if split == "all" else lab[lab["split"] == split]
        table.append({"split": split, "group": "all", "name": "all", **summarise(ps, fs, ls)})
        for tag in sorted(ps["codec_tag"].unique()):
            table.append({"split": split, "group": "codec", "name": tag, **summarise(
                ps[ps["codec_tag"] == tag], fs[fs["codec_tag"] == tag],
                ls[ls["codec_tag"] == tag])})  # fmt: skip
        for cat in CATEGORIES:
            # recall over labels of this category; precision over findings the tool put in it
            table.append({"split": split, "group": "category", "name": cat, **summarise(
                ps, fs[fs["category"] == cat], ls[ls["category"] == cat])})  # fmt: skip
    misses = lab[(lab["kind"] == "miscompression") & ~lab["found"]][
        ["label_id", "image_id", "codec_tag", "category", "symbol", "note", "split"]
    ].to_dict("records")
    return {"table": table, "misses": misses, "findings": f, "labels": lab, "stale": stale}
