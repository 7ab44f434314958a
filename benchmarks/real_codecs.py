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
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.realbed_build import DEFAULT_WORK, LABELS, build, build_parallel, read_manifest
from benchmarks.realbed_score import (  # noqa: F401 - re-exported: others import the scorer from here
    CATEGORIES,
    KINDS,
    LABEL_COLUMNS,
    SPLITS,
    load_labels,
    load_reviewed,
    matches,
    score,
)

RESULTS = Path(__file__).resolve().parent / "results"

# ---------------------------------------------------------------------------------------------------
# running the tool on the bed


def pair_folder(work: Path, run_dir: Path, manifest: dict, tag: str, images: set[str]) -> Path:
    """A folder of symlinks to the originals to scan with one codec tag. It lives in the run dir, so
    that several runs on the same bed (other branches, other detectors) never share it."""
    folder = run_dir / "bed-originals" / tag
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
        originals = pair_folder(work, run_dir, manifest, tag, wanted)
        sizes = work / "sizes" / f"{tag}.csv"
        sizes.parent.mkdir(parents=True, exist_ok=True)
        # An image built but not yet recorded in the manifest has no reconstructions entry: no size.
        known = {s["image_id"]: s.get("reconstructions", {}).get(tag, {}).get("bytes")
                 for s in manifest["images"]}  # fmt: skip
        sizes.write_text("stem,bytes\n" + "".join(f"{i},{b}\n" for i, b in known.items() if b is not None))
        cfg = ScanConfig(out=run_dir, originals=originals, reconstructions=work / "reconstructions" / tag,
                         label=tag, sizes_csv=sizes, detectors=tuple(detectors) if detectors else None,
                         quiet=True, report=False)  # fmt: skip
        summary = run_scan(cfg)
        log(f"{tag}: {summary.pairs_done} pairs scanned, {summary.findings} findings in the run so far")
    return time.perf_counter() - t0


# ---------------------------------------------------------------------------------------------------
# output


def write_results(result: dict, out: Path, meta: dict, stem: str = "real_codecs") -> None:
    """The harness envelope: rows = the score table, summary = the run's facts, misses, stale pairs."""
    from benchmarks import harness

    summary = {**meta, "misses": result["misses"], "stale_pairs": result["stale"]}
    harness.write_results(stem, summary, result["table"], results_dir=out)
    plot(pd.DataFrame(result["table"]), out / f"{stem}.png")


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


def _run_detectors(run_dir: Path) -> list[str]:
    """The detectors a run dir was scanned with (from its run.json), for the results' metadata."""
    path = run_dir / "run.json"
    meta = json.loads(path.read_text()) if path.exists() else {}
    return [d.get("name", "") for d in meta.get("detectors", [])]


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    p_build = sub.add_parser("build", help="regenerate originals + reconstructions, verify sha256")
    p_build.add_argument("--work", type=Path, default=None, help="default: .work/realbed-<precision>")
    p_build.add_argument("--update-manifest", action="store_true", help="record hashes instead of checking")
    p_build.add_argument("--reviewed-only", action="store_true", help="only the reviewed pairs")
    p_build.add_argument("--precision", choices=("float64", "float32"), default=None,
                         help="the learned codecs' arithmetic (default: theirs, float64; float32 remakes "
                              "version 0.1's pixels on the machine that made them)")  # fmt: skip
    p_build.add_argument("--processes", type=int, default=1, help="worker processes for the codecs")
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
    p_score.add_argument(
        "--min-score", type=float, default=None, help="score findings at or above this (default: the run's)"
    )
    sub.add_parser("stats", help="label counts per codec, category and split (markdown)")
    p_prop = sub.add_parser("propose", help="OCR candidates and contact sheets for labelling")
    p_prop.add_argument("--work", type=Path, default=DEFAULT_WORK)
    args = parser.parse_args(argv)

    if args.cmd == "build":
        pairs = load_reviewed() if args.reviewed_only else None
        kw = {"update_manifest": args.update_manifest, "pairs": pairs, "precision": args.precision}
        res = (
            build_parallel(args.processes, args.work, **kw) if args.processes > 1 else build(args.work, **kw)
        )
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
        meta |= {"run_dir": str(run_dir), "detectors": _run_detectors(run_dir), "split_scanned": args.split,
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
            min_score=args.min_score,
        )
        meta |= {"run_dir": str(args.run_dir), "detectors": _run_detectors(args.run_dir)}
        if args.out:
            write_results(result, args.out, meta)
    for s in result["stale"]:
        print("left out:", s)
    print_table(result["table"])
    print(f"{len(result['misses'])} missed miscompressions (see the JSON's 'misses')")
    return 0


if __name__ == "__main__":
    sys.exit(main())
