"""The rate–distortion figure of a run: bpp vs PSNR and bpp vs findings per image, one curve per codec,
with CompressAI's published Kodak curves overlaid when every original is a Kodak image."""

from __future__ import annotations

import base64
import io
from pathlib import Path
from typing import Any

import pandas as pd

from miscomp.curves import curve_key, params_of
from miscomp.report.refs import CONTEXT_KEYS, kodak_image_ids, kodak_refs, ref_for_codec, refs_citation


def rd_points(ok_pairs: pd.DataFrame, findings: pd.DataFrame) -> pd.DataFrame:
    """One row per codec setting: mean bpp, mean PSNR and findings per image over its ok pairs."""
    counts = findings.groupby("pair_id").size()
    df = ok_pairs.assign(n=ok_pairs["pair_id"].map(counts).fillna(0))
    rows = []
    for tag, g in df.groupby("codec_tag", sort=True):
        params = params_of(g["params"].iloc[0] if "params" in g else "")
        codec = g["codec"].iloc[0]
        rows.append({
            "codec_tag": tag, "codec": codec, "params": params, "curve": curve_key(codec, tag, params),
            "bpp": g["bpp"].mean(skipna=False), "psnr": g["psnr"].mean(), "per_image": g["n"].mean(),
            "images": len(g),
        })  # fmt: skip
    return pd.DataFrame(rows)


def rd_figure_png(
    ok_pairs: pd.DataFrame, findings: pd.DataFrame, meta: dict[str, Any]
) -> tuple[str | None, list[str]]:
    """The figure as a data: URI (None when no setting has a bpp) and notes for the reader."""
    notes: list[str] = []
    points = rd_points(ok_pairs, findings)
    if points.empty:
        return None, ["no successful pair: nothing to plot"]
    no_bpp = points[points["bpp"].isna()]
    if len(no_bpp):
        notes.append(
            "bpp unknown (external reconstructions without sizes), so not plotted: "
            + ", ".join(no_bpp["codec_tag"])
        )
    points = points[points["bpp"].notna()]
    if points.empty:
        return None, notes
    stems = [Path(str(p)).stem for p in ok_pairs["original"]] if "original" in ok_pairs else []
    kodak = kodak_image_ids(stems)
    refs: list[tuple[Any, str | None]] = []  # (curve, colour key or None for grey context)
    if kodak is not None:
        matched = {}
        for row in points.itertuples():
            ref = ref_for_codec(row.codec, row.params)
            if ref is not None:
                matched.setdefault(ref.key, (ref, row.curve))
        refs = list(matched.values())
        all_refs = kodak_refs()
        refs += [(all_refs[k], None) for k in CONTEXT_KEYS if k not in matched]
        subset = (
            "" if len(kodak) == 24 else f" This run uses {len(kodak)} of the 24 images, so compare loosely."
        )
        notes.append(f"Dashed: CompressAI's published Kodak results (means over all 24 images).{subset} "
                     f"Source: {refs_citation()}")  # fmt: skip
    return _draw(points, refs), notes


def _draw(points: pd.DataFrame, refs: list[tuple[Any, str | None]]) -> str:
    buf = io.BytesIO()
    rd_figure(points, refs).savefig(buf, format="png")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def rd_figure(points: pd.DataFrame, refs: list[tuple[Any, str | None]]) -> Any:
    """The two charts (bpp vs PSNR, bpp vs findings per image) as a matplotlib Figure."""
    from matplotlib.figure import Figure  # no pyplot: no global state, no GUI backend

    fig = Figure(
        figsize=(11, 4.2 + 0.22 * ((len(points["curve"].unique()) + len(refs) + 2) // 3)),
        dpi=100,
        layout="constrained",
    )
    ax_q, ax_f = fig.subplots(1, 2)
    curves = list(dict.fromkeys(points["curve"]))
    palette = [f"C{i % 10}" for i in range(len(curves))]
    colour = dict(zip(curves, palette, strict=True))
    for curve in curves:
        g = points[points["curve"] == curve].sort_values("bpp")
        label = f"{curve} ({int(g['images'].max())} img)"
        # clip_on=False: a point on an axis limit (0 findings) is drawn whole, not cut in half
        ax_q.plot(g["bpp"], g["psnr"], "o-", color=colour[curve], label=label, lw=2, ms=6, clip_on=False)
        ax_f.plot(g["bpp"], g["per_image"], "o-", color=colour[curve], lw=2, ms=6, clip_on=False)
    xmax = points["bpp"].max()
    for ref, curve in refs:
        pts = [(b, p) for b, p in zip(ref.bpp, ref.psnr, strict=True) if b <= max(1.5 * xmax, 0.5)]
        if not pts:
            continue
        style = (
            {"color": colour[curve], "ls": "--", "lw": 1.3}
            if curve
            else {"color": "0.6", "ls": ":", "lw": 1.3}
        )
        ax_q.plot(*zip(*pts, strict=True), marker=".", label=f"CompressAI: {ref.label}", **style)
    ax_q.set(xlabel="bits per pixel", ylabel="PSNR-RGB (dB)", title="Rate–distortion (mean over images)")
    ax_f.set(xlabel="bits per pixel", ylabel="findings per image", title="Findings per image vs rate")
    for ax in (ax_q, ax_f):
        ax.grid(True, alpha=0.3)
        ax.margins(y=0.08)  # room above and below the outermost points
        ax.set_xlim(0, 1.06 * ax.dataLim.x1)  # from 0, with room right of the highest rate
    ax_f.set_ylim(bottom=0)
    # One legend for both charts, below them: inside, it covered points (bmshj2018's in `make scan`).
    handles, labels = ax_q.get_legend_handles_labels()
    fig.legend(
        handles, labels, loc="outside lower center", ncols=min(3, len(labels)), fontsize=8, frameon=False
    )
    return fig
