"""Detection quality on REAL codec output: the labelled test bed in ``datasets/realbed``.

    python -m benchmarks.real_codecs build   [--work .work/realbed]          regenerate + verify the bed
    python -m benchmarks.real_codecs run     [--work ...] [--detector SPEC ...] [--split all|tune|heldout]
                                             [--run-dir DIR] [--out benchmarks/results]
    python -m benchmarks.real_codecs score   RUN_DIR [--out DIR]              score any scan run dir
    python -m benchmarks.real_codecs propose [--work ...]                     OCR candidates + contact sheets

``run`` scans the bed's stored reconstructions (one ``external`` codec per codec tag, so the labelled
pixels are the ones scanned) into one run dir, then scores it. ``score`` takes a run dir made any other
way (e.g. ``miscomp scan --originals <work>/originals --reconstructions <work>/reconstructions/<tag>
--label <tag>``), so a branch with other detectors can be scored against the same labels.

Match rule (as benchmarks/detection_quality.py): a finding matches a label of the same image and codec
when IoU ≥ 0.1 or the finding's centre lies inside the label's box. Reported separately for the
``tune`` and ``heldout`` splits (no threshold may be tuned on heldout), per codec and per category:

- recall: miscompression labels matched by at least one finding;
- symbol recall: symbol labels matched by a finding flagged ``symbol``;
- precision: findings that match a miscompression label / all findings;
- text precision: symbol findings that match a symbol miscompression / all symbol findings;
- artefact share: findings that match only an ``artefact`` label; unlabelled: findings that match no
  label at all (should be 0 for the run the labels were made on; a new detector's unlabelled findings
  need a look before its precision is believed);
- findings per pair, category accuracy on hits (best-scoring matching finding), detect seconds per pair.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.realbed_build import DATASET, DEFAULT_WORK, LABELS, build, pixel_sha256, read_manifest

REVIEW = DATASET / "review.csv"

RESULTS = Path(__file__).resolve().parent / "results"
LABEL_COLUMNS = [
    "label_id",
    "image_id",
    "codec_tag",
    "x",
    "y",
    "w",
    "h",
    "kind",
    "category",
    "symbol",
    "note",
    "split",
]
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


def load_run(run_dir: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(pairs, findings) of a scan run dir; findings carry their pair's image_id and codec_tag."""
    from miscomp.store import load_run as read_run

    data = read_run(run_dir)
    pairs, findings = data.pairs, data.findings
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
) -> dict:
    """Score a scan run dir against the test bed's labels. Returns {"table": [rows], "misses": [...],
    "findings": frame, "labels": frame, "stale": [...]}; rows have split, group ("all", "codec",
    "category"), name and the metrics of :func:`summarise`.

    Only pairs the run has (and whose reconstructions match the labelled pixels, when ``verify``) are
    scored; labels of other pairs are left out, and ``stale`` says which pairs were dropped. With
    ``reviewed`` (the pairs whose labels are complete, see :func:`load_reviewed`) only those are scored:
    precision means nothing on a pair whose changes were not all labelled.
    """
    labels = load_labels() if labels is None else labels
    manifest = read_manifest() if manifest is None else manifest
    pairs, findings = load_run(run_dir)
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


# ---------------------------------------------------------------------------------------------------
# running the tool on the bed


def pair_folder(work: Path, manifest: dict, tag: str, images: set[str]) -> Path:
    """A folder of symlinks to the originals to scan with one codec tag."""
    folder = work / "scan" / tag
    if folder.exists():
        for link in folder.iterdir():
            link.unlink()
    folder.mkdir(parents=True, exist_ok=True)
    for spec in manifest["images"]:
        if spec["image_id"] in images:
            (folder / f"{spec['image_id']}.png").symlink_to(
                (work / "originals" / f"{spec['image_id']}.png").resolve()
            )
    return folder


def run_tool(
    work: Path,
    run_dir: Path,
    detectors: list[str] | None,
    split: str,
    manifest: dict,
    reviewed: set[tuple[str, str]] | None = None,
    log=print,
) -> float:
    """Scan the stored reconstructions of every codec tag into one run dir (only the ``reviewed`` pairs
    when given); returns wall seconds."""
    from miscomp.run import ScanConfig, run_scan

    t0 = time.perf_counter()
    for tag in manifest["codecs"].values():
        wanted = {
            s["image_id"]
            for s in manifest["images"]
            if (split == "all" or s["split"] == split)
            and (reviewed is None or (s["image_id"], tag) in reviewed)
        }
        if not wanted:
            continue
        originals = pair_folder(work, manifest, tag, wanted)
        sizes = work / "sizes" / f"{tag}.csv"
        sizes.parent.mkdir(parents=True, exist_ok=True)
        sizes.write_text("stem,bytes\n" + "".join(
            f"{s['image_id']},{s['reconstructions'][tag]['bytes']}\n"
            for s in manifest["images"]))  # fmt: skip
        cfg = ScanConfig(out=run_dir, originals=originals, reconstructions=work / "reconstructions" / tag,
                         label=tag, sizes_csv=sizes, detectors=tuple(detectors) if detectors else None,
                         quiet=True, report=False)  # fmt: skip
        summary = run_scan(cfg)
        log(f"{tag}: {summary.pairs_done} pairs scanned, {summary.findings} findings in the run so far")
    return time.perf_counter() - t0


# ---------------------------------------------------------------------------------------------------
# output


def write_results(result: dict, out: Path, meta: dict, stem: str = "real_codecs") -> None:
    out.mkdir(parents=True, exist_ok=True)
    table = pd.DataFrame(result["table"])
    table.to_csv(out / f"{stem}.csv", index=False)
    payload = {**meta, "table": result["table"], "misses": result["misses"], "stale_pairs": result["stale"]}
    (out / f"{stem}.json").write_text(json.dumps(payload, indent=1, default=str, ensure_ascii=False))
    plot(table, out / f"{stem}.png")


def plot(table: pd.DataFrame, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    codecs = table[(table["group"] == "codec") & (table["split"] == "all")]["name"].tolist()
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.5), sharey=True)
    for ax, split in zip(axes, SPLITS, strict=True):
        t = table[(table["group"] == "codec") & (table["split"] == split)].set_index("name").reindex(codecs)
        xs = np.arange(len(codecs))
        for i, (col, colour) in enumerate(
            (("recall", "C0"), ("symbol_recall", "C1"), ("precision", "C2"), ("text_precision", "C3"))
        ):
            ax.bar(xs + (i - 1.5) * 0.2, t[col].fillna(0).astype(float), 0.2, label=col, color=colour)
        ax.set_xticks(xs, [c.replace("-metricmse", "").replace("-weightsmiscomp", "") for c in codecs],
                      rotation=30, ha="right", fontsize=7)  # fmt: skip
        ax.set_ylim(0, 1.05)
        ax.set_title(f"real-codec test bed, {split} split")
    axes[0].set_ylabel("share")
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def label_counts(labels: pd.DataFrame) -> str:
    """Markdown: miscompressions per codec × category (symbol in brackets) and split; artefact labels."""
    mis = labels[labels["kind"] == "miscompression"]
    lines = ["| codec | " + " | ".join(CATEGORIES) + " | symbol | tune | heldout | total | artefact labels |",
             "|---|" + "---:|" * (len(CATEGORIES) + 5)]  # fmt: skip
    for tag in sorted(labels["codec_tag"].unique()):
        m = mis[mis["codec_tag"] == tag]
        cats = [str(int((m["category"] == c).sum())) for c in CATEGORIES]
        art = int(((labels["codec_tag"] == tag) & (labels["kind"] == "artefact")).sum())
        lines.append(f"| {tag} | " + " | ".join(cats) + f" | {int(m['symbol'].sum())} | "
                     f"{int((m['split'] == 'tune').sum())} | {int((m['split'] == 'heldout').sum())} | "
                     f"{len(m)} | {art} |")  # fmt: skip
    cats = [str(int((mis["category"] == c).sum())) for c in CATEGORIES]
    lines.append("| **all** | " + " | ".join(cats) + f" | {int(mis['symbol'].sum())} | "
                 f"{int((mis['split'] == 'tune').sum())} | {int((mis['split'] == 'heldout').sum())} | "
                 f"{len(mis)} | "
                 f"{int((labels['kind'] == 'artefact').sum())} |")  # fmt: skip
    return "\n".join(lines)


def print_table(table: list[dict]) -> None:
    cols = ["split", "group", "name", "pairs", "miscompressions", "findings", "recall", "symbol_recall",
            "precision", "text_precision", "findings_per_pair", "category_accuracy",
            "unlabelled_findings"]  # fmt: skip
    df = pd.DataFrame(table)[cols]
    with pd.option_context("display.width", 200, "display.max_rows", 200, "display.max_columns", 20):
        print(df.to_string(index=False))


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    p_build = sub.add_parser("build", help="regenerate originals + reconstructions, verify sha256")
    p_build.add_argument("--work", type=Path, default=DEFAULT_WORK)
    p_build.add_argument("--update-manifest", action="store_true", help="record hashes instead of checking")
    p_run = sub.add_parser("run", help="build (cached), scan with the tool, score, write results")
    p_run.add_argument("--work", type=Path, default=DEFAULT_WORK)
    p_run.add_argument("--run-dir", type=Path, default=None, help="default: <work>/runs/<detectors>-<split>")
    p_run.add_argument(
        "--detector",
        dest="detectors",
        action="append",
        default=None,
        help="a detector spec NAME[:k=v,...]; repeat for several (default: the tool's defaults)",
    )
    p_run.add_argument("--split", choices=(*SPLITS, "all"), default="all")
    p_run.add_argument("--out", type=Path, default=RESULTS)
    p_run.add_argument(
        "--code",
        type=Path,
        default=None,
        help="import miscomp from this tree (e.g. your worktree) for the scan",
    )
    p_run.add_argument("--all-pairs", action="store_true", help="scan every pair, not only the reviewed ones")
    p_score = sub.add_parser("score", help="score an existing scan run dir")
    p_score.add_argument("run_dir", type=Path)
    p_score.add_argument("--labels", type=Path, default=LABELS)
    p_score.add_argument("--out", type=Path, default=None, help="write real_codecs.{json,csv,png} here")
    p_score.add_argument("--no-verify", action="store_true", help="skip the reconstruction sha256 check")
    sub.add_parser("stats", help="label counts per codec, category and split (markdown)")
    p_prop = sub.add_parser("propose", help="OCR candidates and contact sheets for labelling")
    p_prop.add_argument("--work", type=Path, default=DEFAULT_WORK)
    args = parser.parse_args(argv)

    if args.cmd == "build":
        res = build(args.work, update_manifest=args.update_manifest)
        return 1 if res["mismatches"] or res["missing"] else 0
    if args.cmd == "propose":
        from benchmarks.realbed_label import propose
        from benchmarks.realbed_sheets import contact_sheets

        rows = propose(args.work, read_manifest())
        pd.DataFrame(rows).to_csv(args.work / "candidates.csv", index=False)
        sheets = contact_sheets(args.work, rows, args.work / "sheets")
        print(
            f"{len(rows)} candidates → {args.work / 'candidates.csv'}; "
            f"{len(sheets)} sheets in {args.work / 'sheets'}"
        )
        return 0
    if args.cmd == "stats":
        print(label_counts(load_labels()))
        return 0
    manifest = read_manifest()
    meta: dict = {"labels": str(LABELS.relative_to(LABELS.parents[2])), "version": manifest["version"]}
    if args.cmd == "run":
        if args.code:  # before anything imports miscomp: score another branch's detectors on this bed
            sys.path.insert(0, str(args.code.resolve()))
        import miscomp

        meta["miscomp"] = str(Path(miscomp.__file__).parent)
        if not (args.work / "originals").is_dir():  # else: the score checks every scanned pair's sha256
            res = build(args.work)
            if res["mismatches"] or res["missing"]:
                print("the bed does not reproduce its manifest; pairs that differ are left out of the score")
        detectors = args.detectors
        from miscomp.pairs import safe_id

        name = "-".join(safe_id(d) for d in detectors) if detectors else "default"
        run_dir = args.run_dir or args.work / "runs" / f"{name}-{args.split}"
        reviewed = load_reviewed()
        wall = run_tool(
            args.work, run_dir, detectors, args.split, manifest, None if args.all_pairs else reviewed
        )
        result = score(run_dir, manifest=manifest, reviewed=reviewed)
        meta |= {"run_dir": str(run_dir), "detectors": detectors or "default", "split_scanned": args.split,
                 "scan_wall_seconds": round(wall, 1),
                 "load_average_1min": round(os.getloadavg()[0], 2)}  # fmt: skip
        write_results(result, args.out, meta)
    else:
        result = score(
            args.run_dir,
            load_labels(args.labels),
            manifest,
            verify=not args.no_verify,
            reviewed=load_reviewed(),
        )
        run_meta = (
            json.loads((args.run_dir / "run.json").read_text())
            if (args.run_dir / "run.json").exists()
            else {}
        )
        meta |= {
            "run_dir": str(args.run_dir),
            "detectors": [d.get("name") for d in run_meta.get("detectors", [])],
        }
        if args.out:
            write_results(result, args.out, meta)
    for s in result["stale"]:
        print("left out:", s)
    print_table(result["table"])
    print(f"{len(result['misses'])} missed miscompressions (see the JSON's 'misses')")
    return 0


if __name__ == "__main__":
    sys.exit(main())
