"""The miscompression-aware codec (issue 31): which loss term to train with, and base vs aware.

    python -m benchmarks.aware_training terms                 which term predicts the bed's labels (tune)
    python -m benchmarks.aware_training eval --aware PATH     base vs aware: held-out text, Kodak
    python -m benchmarks.aware_training eval --split tune --aware PATH   the same on the tune split
    python -m benchmarks.aware_training sheets --aware NAME   original | base | aware crops to label by eye
    python -m benchmarks.aware_training ship --weights PATH --provenance JSON   into the package, if it passes

``terms`` (the small measurement that picks the term): on the real-codec test bed's *tune* split, every
known text item (rendered-scene truths, plate boxes) of the base q1 reconstruction gets the value of
each candidate term inside its box; the labelled q1 symbol miscompressions are the positives. A term
that ranks the labelled items above the items that still read (ROC AUC) is one whose minimisation
targets what a reader calls a miscompression. Plain MSE over the box is the baseline term.

``eval``: both codecs compress the same held-out images (the bed's held-out rendered scenes and plate
crops, plus fresh rendered scenes with seeds no training used) and the default detectors scan both;
reported: bpp, symbol findings, OCR character error rate, and on Kodak bpp/PSNR per image.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.realbed_build import LABELS, load_original, read_manifest

RESULTS = Path(__file__).resolve().parent / "results"
BASE_SPEC = "bmshj2018-factorized:q=1,precision=float32"
# the base's next rate on the same images: the base read at the aware model's bpp (report: "at equal bpp")
BASE_Q2_SPEC = "bmshj2018-factorized:q=2,precision=float32"
BASE_SPECS = {1: BASE_SPEC, 2: BASE_Q2_SPEC}  # the shipped base of each quality an aware model can have
BASE_NAMES = {1: "base", 2: "base-q2"}  # their scans' names in an eval folder (text-<name>.csv)
BED_Q1_TAG = "bmshj2018-factorized-metricmse-q1-weightsmiscomp"
# Fresh scenes from TextCropConfig.eval_seed0 on (no training or tuning used them); off by default: on
# this shared CPU one scanned pair takes ~2 min, so the first measurement is the bed's held-out images.
FRESH_SEEDS = range(2000, 2000)


def _t(rgb: np.ndarray):
    import torch

    return torch.from_numpy(rgb.astype(np.float32).transpose(2, 0, 1)[None] / 255.0)


def _auc(pos: np.ndarray, neg: np.ndarray) -> float:
    if not len(pos) or not len(neg):
        return float("nan")
    greater = (pos[:, None] > neg[None, :]).mean()
    ties = (pos[:, None] == neg[None, :]).mean()
    return float(greater + 0.5 * ties)


def terms(split: str = "tune", spec: str = BASE_SPEC) -> pd.DataFrame:
    """Per text item of the bed's ``split``: each term's value in its box and whether q1 miscompressed it."""
    from miscomp.codecs import create_codec
    from miscomp.training.aware import edge_l1, edge_rel, masked_mse
    from miscomp.training.data import box_mask

    manifest = read_manifest()
    labels = pd.read_csv(LABELS)
    mis = labels[
        (labels["codec_tag"] == BED_Q1_TAG) & (labels["kind"] == "miscompression") & labels["symbol"]
    ]
    codec = create_codec(spec)
    rows = []
    for s in manifest["images"]:
        if s["split"] != split or s["source"] not in ("scene", "plates"):
            continue
        rgb, truths = load_original(s)
        rec = codec.decompress(codec.compress(rgb))
        x, r = _t(rgb), _t(rec)
        lab = mis[mis["image_id"] == s["image_id"]]
        for t in truths:
            if t.kind == "hand":
                continue
            m = _t(box_mask(rgb.shape[:2], [(t.x, t.y, t.w, t.h)], 2)[..., None].repeat(3, 2) * 255)[:, :1]
            cx, cy = t.x + t.w / 2, t.y + t.h / 2
            hit = any(
                (lx <= cx <= lx + lw) and (ly <= cy <= ly + lh)
                for lx, ly, lw, lh in lab[["x", "y", "w", "h"]].itertuples(index=False)
            )
            rows.append(
                {
                    "image_id": s["image_id"],
                    "text": t.text,
                    "char_px": t.char_px,
                    "miscompressed": hit,
                    "masked": float(masked_mse(r, x, m)),
                    "edge": float(edge_l1(r, x, m)),
                    "edge-rel": float(edge_rel(r, x, m)),
                }
            )
    df = pd.DataFrame(rows)
    df["-char_px"] = -df["char_px"]  # not a loss term: how much text size alone predicts
    df["masked+edge"] = df["masked"] / df["masked"].median() + df["edge"] / df["edge"].median()
    return df


def terms_summary(df: pd.DataFrame) -> dict:
    pos, neg = df[df["miscompressed"]], df[~df["miscompressed"]]
    out = {"items": len(df), "miscompressed": len(pos)}
    for col in ("masked", "edge", "masked+edge", "edge-rel", "-char_px"):
        out[f"auc_{col}"] = round(_auc(pos[col].to_numpy(), neg[col].to_numpy()), 3)
    return out


def heldout_originals(folder: Path, split: str = "heldout") -> list[dict]:
    """Write the held-out text images (bed held-out scenes and plate crops, fresh scenes) as PNGs;
    ``split="tune"``: the bed's tune scenes and plate crops instead (for choosing the configuration)."""
    from PIL import Image

    from miscomp.synth.text_scenes import SCENE_KINDS, render_scene

    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for s in read_manifest()["images"]:
        if s["split"] == split and s["source"] in ("scene", "plates"):
            rgb, _ = load_original(s)
            out.append({"stem": s["image_id"], "set": "bed-" + s["source"]})
            Image.fromarray(rgb).save(folder / f"{s['image_id']}.png")
    for kind in SCENE_KINDS if split == "heldout" else ():
        for seed in FRESH_SEEDS:
            stem = f"fresh_{kind}{seed}"
            Image.fromarray(render_scene(kind, seed).image).save(folder / f"{stem}.png")
            out.append({"stem": stem, "set": "fresh-scene"})
    return out


def scan_text(work: Path, spec: str, name: str, split: str = "heldout") -> pd.DataFrame:
    """Compress the held-out text images with ``spec`` and scan them with the default detectors (run dir
    ``work/run-<name>``); per pair: stem, set, bpp, shown symbol findings and the OCR read counts."""
    from miscomp.run import ScanConfig, run_scan
    from miscomp.store import load_run

    images = pd.DataFrame(heldout_originals(work / "originals", split))
    run_dir = work / f"run-{name}"
    cfg = ScanConfig(out=run_dir, originals=work / "originals", codecs=(spec,), quiet=True, report=False)
    run_scan(cfg)
    run = load_run(run_dir)
    pairs, findings = run.pairs.copy(), run.findings
    pairs["stem"] = pairs["original"].map(lambda p: Path(str(p)).stem)
    pairs = pairs.merge(images, on="stem", how="inner")
    shown = (
        findings[(findings["score"] >= 0.5) & findings["symbol"].astype(bool)] if len(findings) else findings
    )
    per_pair = shown.groupby("pair_id").size() if len(shown) else pd.Series(dtype=int)
    pairs["symbol_findings"] = pairs["pair_id"].map(per_pair).fillna(0).astype(int)
    pairs["model"] = name
    return pairs


def kodak(specs: list[str]) -> pd.DataFrame:
    """bpp (bytes of the whole bitstream) and PSNR on the decoded 8-bit RGB, every Kodak image."""
    from PIL import Image

    from benchmarks.realbed_build import shared_dir
    from miscomp.codecs import create_codec

    rows = []
    codecs = {s: create_codec(s) for s in specs}
    for path in sorted((shared_dir() / "data" / "kodak").glob("kodim*.png")):
        rgb = np.asarray(Image.open(path).convert("RGB"))
        for spec, codec in codecs.items():
            data = codec.compress(rgb)
            rec = codec.decompress(data)
            mse = float(np.mean((rec.astype(np.float64) - rgb) ** 2))
            bpp = len(data) * 8 / (rgb.shape[0] * rgb.shape[1])
            rows.append({"image": path.stem, "codec": spec, "bpp": bpp, "psnr": 10 * np.log10(255**2 / mse)})
    return pd.DataFrame(rows)


def delta_psnr_at_equal_bpp(aware: pd.DataFrame, rd: pd.DataFrame) -> pd.DataFrame:
    """Per Kodak image: the aware model's PSNR minus the base's at the same bpp, the base's PSNR read off
    the line through its q1 and q2 points over log(bpp) (the shipped models, ``rd_kodak.csv``). With one
    aware point this is the Bjøntegaard idea reduced to a point: a BD-PSNR needs a curve on both sides."""
    q = {k: rd[rd["codec"] == f"bmshj2018-factorized-{k}"].set_index("image") for k in ("q1", "q2")}
    rows = []
    for r in aware.itertuples(index=False):
        b1, b2 = q["q1"].loc[r.image], q["q2"].loc[r.image]
        base_at, _ = base_line_at(r.bpp, (b1.bpp, b1.psnr), (b2.bpp, b2.psnr))
        rows.append({"image": r.image, "model": r.model, "bpp": r.bpp, "psnr": r.psnr,
                     "base_q1_bpp": b1.bpp, "base_q1_psnr": b1.psnr, "base_psnr_at_bpp": base_at,
                     "delta_psnr": r.psnr - base_at})  # fmt: skip
    return pd.DataFrame(rows)


def quality_of(name: str | Path) -> int:
    """The quality of an aware weight file or its stem (``<arch>-q<N>-<suffix>``; its sidecar's
    ``quality`` where the file has one)."""
    import re

    path = Path(name)
    card = path.with_suffix(".json")
    if path.suffix == ".pth" and card.exists():
        return int(json.loads(card.read_text())["quality"])
    m = re.search(r"-q(\d+)-", path.name)
    if m is None:
        raise ValueError(f"{name}: no quality in the name (<arch>-q<N>-<suffix>)")
    return int(m.group(1))


def base_line_at(bpp: float, q1: tuple[float, float], q2: tuple[float, float]) -> tuple[float, float]:
    """The base read at ``bpp`` on the line through its q1 and q2 points (bpp, value) over log bpp, and
    where: t = 0 at q1, 1 at q2 (outside [0, 1] is extrapolation)."""
    t = float(np.log(bpp / q1[0]) / np.log(q2[0] / q1[0]))
    return q1[1] + t * (q2[1] - q1[1]), t


def text_point(pairs: pd.DataFrame) -> dict:
    """One model's point on the held-out text: mean bpp, symbol findings (sum), pooled CER."""
    return {"bpp": float(pairs["bpp"].mean()), "symbol_findings": int(pairs["symbol_findings"].sum()),
            "cer": cer(pairs)}  # fmt: skip


def bd_figures(text: dict[str, pd.DataFrame], kodak_aware: pd.DataFrame, rd: pd.DataFrame,
               aware: tuple[str, str]) -> dict:  # fmt: skip
    """Bjøntegaard deltas of the aware curve (``aware``: its q1 and q2 models' names) against the base
    curve (q1, q2), with the project's :func:`miscomp.study.bjontegaard.bd_delta` (PCHIP over log bpp,
    the mean difference over the shared rate range; with two points a curve is the line over log bpp).

    ``text``: the held-out text scans by name (``base``, ``base-q2`` and the two aware models);
    ``kodak_aware``: per Kodak image and aware model (``model``, ``image``, ``bpp``, ``psnr``); ``rd``:
    ``rd_kodak.csv`` (the shipped q1 and q2 per image). BD-CER is given absolute (CER points) and relative
    to the base's mean CER over the same range; the same for the symbol findings. BD-PSNR on Kodak: on
    the curves of the 24 images' mean bpp and PSNR, and the mean of the 24 per-image deltas."""
    from miscomp.study.bjontegaard import bd_delta, bd_rate

    def ref_mean(rate_ref, metric_ref, rate_test) -> float:
        # the base curve's own mean over the shared range: bd_delta of it against a zero curve there
        return bd_delta(rate_test, np.zeros(len(rate_test)), rate_ref, metric_ref)

    base = [text_point(text[BASE_NAMES[q]]) for q in (1, 2)]
    test = [text_point(text[name]) for name in aware]
    out: dict = {"bd_curve_aware": list(aware)}
    rb, ra = [p["bpp"] for p in base], [p["bpp"] for p in test]
    lo, hi = max(min(rb), min(ra)), min(max(rb), max(ra))
    out["bd_text_bpp_range"] = [round(lo, 4), round(hi, 4)] if hi > lo else None
    for key, col in (("cer", "cer"), ("findings", "symbol_findings")):
        mb, ma = [p[col] for p in base], [p[col] for p in test]
        delta, mean = bd_delta(rb, mb, ra, ma), ref_mean(rb, mb, ra)
        out[f"bd_{key}"] = None if np.isnan(delta) else round(delta, 4 if key == "cer" else 2)
        out[f"bd_{key}_relative"] = None if np.isnan(delta) or not mean else round(delta / mean, 4)
    # Lai et al. 2024's "BD-rate for CER": bits at equal CER. None where the two curves' CER ranges do
    # not meet (the aware q1 can read better than the base q2: no shared CER to compare bits at)
    saving = bd_rate(rb, [p["cer"] for p in base], ra, [p["cer"] for p in test])
    out["bd_rate_cer"] = None if np.isnan(saving) else round(saving, 4)
    q = {k: rd[rd["codec"] == f"bmshj2018-factorized-{k}"].set_index("image") for k in ("q1", "q2")}
    a = {n: kodak_aware[kodak_aware["model"] == n].set_index("image") for n in aware}
    kb = [(float(q[k]["bpp"].mean()), float(q[k]["psnr"].mean())) for k in ("q1", "q2")]
    ka = [(float(a[n]["bpp"].mean()), float(a[n]["psnr"].mean())) for n in aware]
    d = bd_delta([b for b, _ in kb], [p for _, p in kb], [b for b, _ in ka], [p for _, p in ka])
    out["bd_psnr_kodak"] = None if np.isnan(d) else round(d, 3)
    per = [
        bd_delta(
            [q["q1"].loc[i, "bpp"], q["q2"].loc[i, "bpp"]],
            [q["q1"].loc[i, "psnr"], q["q2"].loc[i, "psnr"]],
            [a[n].loc[i, "bpp"] for n in aware],
            [a[n].loc[i, "psnr"] for n in aware],
        )
        for i in sorted(a[aware[0]].index)
    ]
    per = [x for x in per if not np.isnan(x)]
    out["bd_psnr_kodak_per_image"] = round(float(np.mean(per)), 3) if per else None
    out["bd_psnr_kodak_images"] = len(per)
    return out


def cer(pairs: pd.DataFrame) -> float | None:
    chars = pd.to_numeric(pairs["ocr_chars"], errors="coerce").fillna(0).sum()
    errors = pd.to_numeric(pairs["ocr_char_errors"], errors="coerce").fillna(0).sum()
    return float(errors / chars) if chars else None


def results_name(quality: int) -> str:
    """The results file of an aware model of ``quality``: q1's keeps its first name (the shipped q1's
    sidecar cites it)."""
    return "aware_training" if quality == 1 else f"aware_training_q{quality}"


def report(work: Path, aware: str, card: Path | None, curve: str | None = None) -> Path:
    """results/aware_training[_qN].{json,csv,png} from an eval folder: the aware model ``aware`` against
    the base of its own quality (the rate) and the base read at its bpp on the line through the base q1
    and q2 over log bpp (findings, CER, Kodak PSNR). ``curve``: the aware model of the other quality,
    scanned in the same folder: adds the Bjøntegaard deltas of the aware curve (:func:`bd_figures`)."""
    from benchmarks.harness import write_results

    quality = quality_of(aware)
    own = BASE_NAMES[quality]  # the base the rate is held to
    if quality != 1 and not (work / f"text-{own}.csv").exists():
        raise ValueError(f"{work}: an aware q{quality} needs its base's scan (eval --base-q2)")
    models = ("base", "base-q2", aware) if (work / "text-base-q2.csv").exists() else ("base", aware)
    text = pd.concat([pd.read_csv(work / f"text-{m}.csv") for m in models])
    rows = []
    for (model, group), g in sorted(text.groupby(["model", "set"])) + sorted(
        ((m, "all text"), g) for m, g in text.groupby("model")
    ):
        psnr = float(pd.to_numeric(g["psnr"], errors="coerce").mean()) if "psnr" in g else None
        rows.append({"model": model, "set": group, "images": len(g), "bpp": float(g["bpp"].mean()),
                     "symbol_findings": int(g["symbol_findings"].sum()), "cer": cer(g),
                     "psnr": psnr, "delta_psnr": None})  # fmt: skip
    kodak_all = pd.read_csv(work / "kodak.csv")
    rd = pd.read_csv(RESULTS / "rd_kodak.csv")
    kod = delta_psnr_at_equal_bpp(kodak_all[kodak_all["model"] == aware], rd)
    rows.append({"model": "base", "set": "kodak", "images": len(kod), "bpp": float(kod["base_q1_bpp"].mean()),
                 "symbol_findings": None, "cer": None, "psnr": float(kod["base_q1_psnr"].mean()),
                 "delta_psnr": 0.0})  # fmt: skip
    rows.append({"model": aware, "set": "kodak", "images": len(kod), "bpp": float(kod["bpp"].mean()),
                 "symbol_findings": None, "cer": None, "psnr": float(kod["psnr"].mean()),
                 "delta_psnr": float(kod["delta_psnr"].mean())})  # fmt: skip
    b2k = rd[rd["codec"] == "bmshj2018-factorized-q2"]  # the base q2's Kodak point, for the figure
    rows.append({"model": "base-q2", "set": "kodak", "images": len(b2k), "bpp": float(b2k["bpp"].mean()),
                 "symbol_findings": None, "cer": None, "psnr": float(b2k["psnr"].mean()),
                 "delta_psnr": None})  # fmt: skip
    by = {(r["model"], r["set"]): r for r in rows}
    b, a = by[(own, "all text")], by[(aware, "all text")]
    meta = json.loads(card.read_text()) if card is not None and card.exists() else {}
    steps, minutes = meta.get("steps"), meta.get("train_minutes")  # of the exported checkpoint
    summary = {
        "base": BASE_SPECS[quality],
        "aware": aware,
        "aware_term": meta.get("aware_term"),
        "aware_lambda": meta.get("aware_lambda"),
        "lambda": meta.get("lambda"),
        "train_steps": steps,
        "train_minutes": minutes,
        "text_images": a["images"],
        "text_bpp_ratio": round(a["bpp"] / b["bpp"], 4),
        "symbol_findings_base": b["symbol_findings"],
        "symbol_findings_aware": a["symbol_findings"],
        "symbol_findings_change": round(a["symbol_findings"] / b["symbol_findings"] - 1, 4)
        if b["symbol_findings"]
        else None,
        "cer_base": b["cer"],
        "cer_aware": a["cer"],
        "kodak_bpp_ratio": round(by[(aware, "kodak")]["bpp"] / by[(own, "kodak")]["bpp"], 4),
        "kodak_delta_psnr_at_equal_bpp": round(by[(aware, "kodak")]["delta_psnr"], 3),
    }
    q2 = work / "text-base-q2.csv"  # the base q2 on the same images: the base read at the aware bpp
    if q2.exists():
        b1, b2 = by[("base", "all text")], by[("base-q2", "all text")]
        at, t = base_line_at(a["bpp"], (b1["bpp"], b1["symbol_findings"]), (b2["bpp"], b2["symbol_findings"]))
        cer_at, _ = base_line_at(a["bpp"], (b1["bpp"], b1["cer"]), (b2["bpp"], b2["cer"]))
        summary.update({
            "base_q2_bpp": round(b2["bpp"], 4),
            "symbol_findings_base_q2": b2["symbol_findings"],
            "cer_base_q2": b2["cer"],
            # 0: at the base q1, 1: at q2; > 1 extrapolates past q2. q1's results keep their first keys
            # (the shipped q1's sidecar and docs cite them)
            **({"base_line_t": round(t, 4)} if quality != 1 else {}),
            "symbol_findings_base_at_aware_bpp": round(at, 1),
            "symbol_findings_change_at_equal_bpp": round(a["symbol_findings"] / at - 1, 4),
            "cer_change_at_equal_bpp": round(a["cer"] / cer_at - 1, 4),
        })  # fmt: skip
    if curve is not None:
        names = tuple(sorted((aware, curve), key=quality_of))
        scans = {m: pd.read_csv(work / f"text-{m}.csv") for m in ("base", "base-q2", *names)}
        summary.update(bd_figures(scans, kodak_all, rd, names))
    print(json.dumps(summary, indent=1))
    other = None
    if curve is not None:  # the other aware model's points, for the figure
        k = kodak_all[kodak_all["model"] == curve]
        other = {"all text": text_point(scans[curve]),
                 "kodak": {"bpp": float(k["bpp"].mean()), "psnr": float(k["psnr"].mean())}}  # fmt: skip
    plot(RESULTS / f"{results_name(quality)}.png", by, aware, other)
    return write_results(results_name(quality), summary, rows)


def plot(path: Path, by: dict, aware: str, curve: dict | None = None) -> None:
    """Base and aware side by side: held-out text symbol findings and CER over bpp, and Kodak PSNR over
    bpp; the base is a line through its q1 and q2 points (what "at equal bpp" reads off), the aware
    model one point; ``curve`` (set -> the other aware model's point): the aware curve through both."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(13, 4.2), dpi=110, layout="constrained")
    axes = fig.subplots(1, 3)
    panels = (
        ("all text", "symbol_findings", "symbol findings (shown, score ≥ 0.5)", "held-out text: findings"),
        ("all text", "cer", "OCR character error rate (pooled)", "held-out text: CER"),
        ("kodak", "psnr", "PSNR-RGB (dB, mean of 24)", "Kodak"),
    )
    for ax, (group, col, ylabel, title) in zip(axes, panels, strict=True):
        base = [by[(m, group)] for m in ("base", "base-q2") if (m, group) in by]
        ax.plot([r["bpp"] for r in base], [r[col] for r in base], "C0o-", ms=7, label="base q1 → q2")
        a = by[(aware, group)]
        if curve is not None:
            pts = sorted([(a["bpp"], a[col]), (curve[group]["bpp"], curve[group][col])])
            ax.plot([x for x, _ in pts], [y for _, y in pts], "C3:", label="aware q1 → q2")
        ax.plot([a["bpp"]], [a[col]], "C3*", ms=14, label=f"aware q{quality_of(aware)} ({aware})")
        for r, name in zip(base, ("q1", "q2"), strict=False):
            ax.annotate(name, (r["bpp"], r[col]), textcoords="offset points", xytext=(6, 4))
        ax.set(xlabel="bits per pixel", ylabel=ylabel, title=title)
        ax.grid(True, alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.savefig(path)


def sheets(work: Path, aware: str, out: Path, per_sheet: int = 12, zoom: int = 3) -> list[Path]:
    """PNG sheets for labelling by eye: each row is one symbol finding (shown, score >= 0.5) of the *base*
    of the aware model's quality on the held-out text, cropped (with a margin) from the original | base |
    aware reconstructions and upscaled ``zoom``×; the row's label is its number, image and the OCR reads.
    Whether the base's change is a miscompression, and whether the aware model still makes it, is judged
    by eye."""
    from PIL import Image, ImageDraw

    base = BASE_NAMES[quality_of(aware)]  # the base of the aware model's own quality
    runs = {m: load_run_dir(work / f"run-{m}") for m in (base, aware)}
    f = runs[base]["findings"]
    f = f[(f["score"] >= 0.5) & f["symbol"].astype(bool)].sort_values(["pair_id", "y", "x"])
    rec = {
        m: dict(zip(r["pairs"]["image_id"], r["pairs"]["reconstruction"], strict=True))
        for m, r in runs.items()
    }
    orig = dict(zip(runs[base]["pairs"]["image_id"], runs[base]["pairs"]["original"], strict=True))
    image_of = dict(zip(runs[base]["pairs"]["pair_id"], runs[base]["pairs"]["image_id"], strict=True))
    out.mkdir(parents=True, exist_ok=True)
    rows, index = [], []
    for n, r in enumerate(f.itertuples(index=False), 1):
        iid = image_of[r.pair_id]
        ims = [Image.open(orig[iid]).convert("RGB")] + [
            Image.open(work / f"run-{m}" / rec[m][iid]).convert("RGB") for m in (base, aware)
        ]
        m = 6
        box = (
            max(0, r.x - m),
            max(0, r.y - m),
            min(ims[0].width, r.x + r.w + m),
            min(ims[0].height, r.y + r.h + m),
        )
        crops = [
            im.crop(box).resize(
                ((box[2] - box[0]) * zoom, (box[3] - box[1]) * zoom), Image.Resampling.NEAREST
            )
            for im in ims
        ]
        label = f"#{n} {iid} {r.detector}: '{r.original_text}' -> '{r.reconstruction_text}'"
        rows.append((label, crops))
        index.append(
            {
                "n": n,
                "image_id": iid,
                "detector": r.detector,
                "x": r.x,
                "y": r.y,
                "w": r.w,
                "h": r.h,
                "original_text": r.original_text,
                "base_text": r.reconstruction_text,
            }
        )
    paths = []
    for k in range(0, len(rows), per_sheet):
        chunk = rows[k : k + per_sheet]
        width = max(sum(c.width for c in crops) + 20 for _, crops in chunk)
        height = sum(max(c.height for c in crops) + 18 for _, crops in chunk)
        sheet = Image.new("RGB", (min(width, 2400), height), "white")
        d = ImageDraw.Draw(sheet)
        y = 0
        for label, crops in chunk:
            d.text((2, y + 2), label[:140] + "   [original | base | aware]", fill="black")
            x = 0
            for c in crops:
                sheet.paste(c, (x, y + 16))
                x += c.width + 10
            y += max(c.height for c in crops) + 18
        path = out / f"sheet_{k // per_sheet + 1:02d}.png"
        sheet.save(path)
        paths.append(path)
    pd.DataFrame(index).to_csv(out / "index.csv", index=False)
    return paths


# Shipping rule (issue 31, docs/decisions/aware-training.md): the aware weights ship when the held-out
# text rate is within ±5 % of the base of their quality and there are fewer symbol findings than the base
# at equal bpp (read on the line through the base q1 and q2: for an aware q2 near q2's rate that is the
# line's q2 end, extrapolated past q2 by at most the ±5 % the rate rule allows).
SHIP_RATE_TOLERANCE = 0.05


def ship_verdict(summary: dict) -> tuple[bool, str]:
    """Whether a measured aware model may ship (the rule above), and why in one line."""
    ratio, change = summary.get("text_bpp_ratio"), summary.get("symbol_findings_change_at_equal_bpp")
    if ratio is None or change is None:
        return False, "the results lack the held-out bpp ratio or the findings at equal bpp (eval --base-q2)"
    if abs(ratio - 1) > SHIP_RATE_TOLERANCE:
        return False, f"held-out text bpp {ratio - 1:+.1%} vs the base, outside ±{SHIP_RATE_TOLERANCE:.0%}"
    if change >= 0:
        return False, f"symbol findings {change:+.1%} vs the base at equal bpp: not fewer"
    return True, f"held-out text bpp {ratio - 1:+.1%}, symbol findings {change:+.1%} at equal bpp"


def ship(weights: Path, results: Path, provenance: Path, arch: str = "bmshj2018-factorized") -> Path:
    """Copy measured aware weights into the package as ``<arch>-q<N>-aware.pth`` (``weights=aware``) with
    a sidecar: the export's facts, how it was trained (``provenance``: command, commit, CPU time, load),
    the held-out measurement and the golden numbers of kodim23 that tests/codecs/test_inhouse_weights.py
    checks. Refuses (MiscompError, one line) when the measurement does not pass the shipping rule."""
    import shutil

    from PIL import Image

    from benchmarks.realbed_build import shared_dir
    from miscomp.codecs import create_codec
    from miscomp.errors import MiscompError
    from miscomp.io import atomic_write_text, file_sha256
    from miscomp.metrics import ms_ssim, psnr
    from miscomp.weights import inhouse_path

    summary = json.loads(results.read_text())["summary"]
    ok, why = ship_verdict(summary)
    if not ok:
        raise MiscompError(f"{results}: not shipped: {why}")
    if summary.get("aware") != weights.stem:
        raise MiscompError(f"{results}: measures {summary.get('aware')}, not {weights.stem}")
    meta = json.loads(weights.with_suffix(".json").read_text())
    if summary.get("train_steps") != meta.get("steps"):
        raise MiscompError(
            f"{results}: measured {summary.get('train_steps')} steps, {weights} has {meta.get('steps')}"
        )
    out = inhouse_path(arch, int(meta["quality"]), "aware")
    shutil.copyfile(weights, out)
    rgb = np.asarray(Image.open(shared_dir() / "data" / "kodak" / "kodim23.png").convert("RGB"))
    codec = create_codec(f"{arch}:q={meta['quality']},weights=aware")
    data = codec.compress(rgb)
    rec = codec.decompress(data)
    keep = (
        "text_images", "text_bpp_ratio", "symbol_findings_base", "symbol_findings_aware",
        "base_line_t", "symbol_findings_base_at_aware_bpp", "symbol_findings_change_at_equal_bpp",
        "cer_base", "cer_aware", "cer_change_at_equal_bpp", "kodak_bpp_ratio",
        "kodak_delta_psnr_at_equal_bpp",
    )  # fmt: skip
    heldout = {k: summary.get(k) for k in keep}
    heldout.update({"verdict": why, "results": f"benchmarks/results/{results.name}"})
    golden = {
        "image": "kodim23.png", "weights_sha256": file_sha256(out), "bytes": len(data),
        "bpp": round(len(data) * 8 / (rgb.shape[0] * rgb.shape[1]), 6), "psnr": round(psnr(rgb, rec), 4),
        "ms_ssim": round(ms_ssim(rgb, rec), 5),
    }  # fmt: skip
    meta.update({
        "file": out.name, "variant": "aware", "spec": f"{arch}:q={meta['quality']},weights=aware",
        "training": json.loads(provenance.read_text()), "heldout": heldout, "golden": golden,
    })  # fmt: skip
    atomic_write_text(out.with_suffix(".json"), json.dumps(meta, indent=2) + "\n")
    return out


def load_run_dir(run_dir: Path) -> dict[str, pd.DataFrame]:
    pairs = pd.read_csv(run_dir / "pairs.csv")
    findings = (
        pd.read_csv(run_dir / "findings.csv") if (run_dir / "findings.csv").exists() else pd.DataFrame()
    )
    return {"pairs": pairs, "findings": findings}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("terms")
    t.add_argument("--split", default="tune", choices=("tune",))
    t.add_argument("--csv", type=Path, default=None)
    e = sub.add_parser("eval")
    e.add_argument("--aware", type=Path, nargs="*", default=[], help="exported aware weights (.pth)")
    e.add_argument("--work", type=Path, default=Path(".work") / "aware-eval")
    e.add_argument("--part", choices=("text", "kodak", "all"), default="all")
    e.add_argument(
        "--split", choices=("heldout", "tune"), default="heldout",
        help="the bed's text images to scan: held-out (the result) or tune (choosing a configuration)",
    )  # fmt: skip
    e.add_argument("--no-base", action="store_true", help="skip the base (its csv is in --work already)")
    e.add_argument(
        "--base-q2", action="store_true",
        help="scan the base q2 too (text-base-q2.csv): the report reads the base at the aware bpp from q1-q2",
    )  # fmt: skip
    r = sub.add_parser("report", help="results/aware_training.{json,csv} from an eval's work folder")
    r.add_argument("--work", type=Path, default=Path(".work") / "aware-eval")
    r.add_argument("--aware", default="", help="the aware model's name (its .pth stem)")
    r.add_argument("--card", type=Path, default=None, help="the exported weights' sidecar .json (steps)")
    r.add_argument(
        "--curve", default=None,
        help="the aware model of the other quality, scanned in the same --work: BD-CER/BD-PSNR of the curve",
    )  # fmt: skip
    sh = sub.add_parser("sheets", help="original | base | aware crops of the base's symbol findings (PNG)")
    sh.add_argument("--work", type=Path, default=Path(".work") / "aware-eval")
    sh.add_argument("--aware", required=True, help="the aware model's name (its .pth stem)")
    sh.add_argument("--out", type=Path, default=None)
    sp = sub.add_parser("ship", help="copy measured aware weights into the package (weights=aware)")
    sp.add_argument("--weights", type=Path, required=True, help="the exported, measured .pth")
    sp.add_argument("--results", type=Path, default=RESULTS / "aware_training.json")
    sp.add_argument("--provenance", type=Path, required=True, help="JSON: command, commit, CPU time, load")
    args = p.parse_args(argv)
    if args.cmd == "ship":
        from miscomp.errors import MiscompError

        try:
            print(ship(args.weights, args.results, args.provenance))
        except (MiscompError, OSError, KeyError, ValueError) as err:
            print(f"error: {err}", file=sys.stderr)
            return 1
        return 0
    if args.cmd == "sheets":
        for path in sheets(args.work, args.aware, args.out or args.work / "sheets"):
            print(path)
        return 0
    import torch

    torch.set_num_threads(1)
    if args.cmd == "terms":
        t0 = time.perf_counter()
        df = terms(args.split)
        if args.csv:
            df.to_csv(args.csv, index=False)
        print(json.dumps({**terms_summary(df), "seconds": round(time.perf_counter() - t0, 1)}))
    elif args.cmd == "eval":
        specs = {} if args.no_base else {"base": BASE_SPEC}
        if args.base_q2:
            specs["base-q2"] = BASE_Q2_SPEC
        specs.update({p.stem: f"{BASE_SPECS[quality_of(p)]},weights={p.resolve()}" for p in args.aware})
        args.work.mkdir(parents=True, exist_ok=True)
        if args.part in ("text", "all"):
            for name, spec in specs.items():
                t0 = time.perf_counter()
                pairs = scan_text(args.work, spec, name, args.split)
                pairs.to_csv(args.work / f"text-{name}.csv", index=False)
                n_sym = int(pairs["symbol_findings"].sum())
                print(
                    f"{name}: {len(pairs)} pairs, {n_sym} symbol findings, {time.perf_counter() - t0:.0f} s"
                )
        if args.part in ("kodak", "all"):  # the base's Kodak points are rd_kodak.csv's (same weights)
            df = kodak([v for k, v in specs.items() if not k.startswith("base")])
            df["model"] = df["codec"].map({v: k for k, v in specs.items()})
            df.to_csv(args.work / "kodak.csv", index=False)
            print(df.groupby("model")[["bpp", "psnr"]].mean(), flush=True)
    elif args.cmd == "report":
        report(args.work, args.aware, args.card, args.curve)
    return 0


if __name__ == "__main__":
    sys.exit(main())
