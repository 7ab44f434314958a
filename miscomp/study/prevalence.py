"""Prevalence of miscompressions per codec setting, from a scan's tables.

Raw figures count the findings a person is shown (score >= the run's min-score) per image and per
megapixel, with 95 % intervals from a bootstrap over images (the unit that was sampled). Where
review evidence exists, a *corrected* figure estimates the true prevalence: raw × precision / recall
of the tool's flags for that group, with precision and recall drawn from their Jeffreys posteriors
inside the same bootstrap so that the interval carries the review's uncertainty too.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from miscomp.curves import setting_curve
from miscomp.errors import MiscompError

CATEGORIES = ("amplitude", "geometry", "shape")
GROUPS = ("all", *CATEGORIES, "symbol")


@dataclass(frozen=True)
class ReviewEvidence:
    """What human review says about the tool's flags of one group (a category, ``symbol`` or ``all``).

    ``flagged``/``confirmed``: shown findings people looked at, and how many were real
    miscompressions (precision). ``labelled``/``found``: labelled miscompressions of a fully reviewed
    set, and how many the tool found (recall)."""

    group: str
    flagged: int
    confirmed: int
    labelled: int
    found: int
    source: str = ""

    def __post_init__(self) -> None:
        if self.group not in GROUPS:
            raise MiscompError(f"review evidence: group {self.group!r} not in {', '.join(GROUPS)}")
        if not (0 <= self.confirmed <= self.flagged and 0 <= self.found <= self.labelled):
            raise MiscompError(
                f"review evidence for {self.group}: need 0 <= confirmed <= flagged and 0 <= found <= labelled"
            )

    @property
    def precision(self) -> float:
        return self.confirmed / self.flagged if self.flagged else float("nan")

    @property
    def recall(self) -> float:
        return self.found / self.labelled if self.labelled else float("nan")


def load_evidence(path: Path) -> dict[str, ReviewEvidence]:
    """Review evidence from a JSON list of objects (the fields of :class:`ReviewEvidence`)."""
    try:
        rows = json.loads(Path(path).read_text(encoding="utf-8"))
        evidence = [ReviewEvidence(**row) for row in rows]
    except FileNotFoundError:
        raise MiscompError(f"{path}: review evidence file does not exist") from None
    except (ValueError, TypeError) as err:
        raise MiscompError(f"{path}: not a review evidence list ({err})") from None
    return {e.group: e for e in evidence}


def save_evidence(evidence: dict[str, ReviewEvidence], path: Path) -> None:
    from miscomp.io import atomic_write_text

    atomic_write_text(Path(path), json.dumps([asdict(e) for e in evidence.values()], indent=1) + "\n")


@dataclass(frozen=True)
class PrevalenceRow:
    """One codec setting × group × basis: the prevalence and its 95 % bootstrap interval."""

    codec: str
    codec_tag: str
    curve: str  # the setting's curve (miscomp.curves): family + parameters other than the rate
    bpp: float
    images: int
    megapixels: float
    group: str
    basis: str  # "raw" (the tool's shown findings) | "corrected" (× precision / recall from review)
    count: int
    per_image: float
    per_image_lo: float
    per_image_hi: float
    per_mp: float
    per_mp_lo: float
    per_mp_hi: float
    precision: float | None = None
    recall: float | None = None


def _group_counts(findings: pd.DataFrame, group: str) -> pd.Series:
    if group == "all":
        mask = np.ones(len(findings), bool)
    elif group == "symbol":
        mask = findings["symbol"].astype(bool).to_numpy()
    else:
        mask = (findings["category"] == group).to_numpy()
    return findings[mask].groupby("pair_id").size()


def prevalence(
    pairs: pd.DataFrame,
    findings: pd.DataFrame,
    min_score: float,
    evidence: dict[str, ReviewEvidence] | None = None,
    n_boot: int = 2000,
    seed: int = 0,
) -> list[PrevalenceRow]:
    """Per codec setting and group, findings shown per image and per megapixel with 95 % intervals.

    Only measured pairs count (status ok/partial); an image is the bootstrap unit."""
    ok = pairs[pairs["status"].isin(["ok", "partial"])].copy()
    if ok.empty:
        raise MiscompError("no measured pairs in this run: nothing to count")
    ok["mp"] = ok["width"].astype(float) * ok["height"].astype(float) / 1e6
    shown = findings[findings["score"] >= min_score]
    rng = np.random.default_rng(seed)
    rows: list[PrevalenceRow] = []
    for tag, grp in ok.groupby("codec_tag", sort=True):
        grp = grp.sort_values("pair_id")
        n = len(grp)
        mp = grp["mp"].to_numpy()
        idx = rng.integers(0, n, size=(n_boot, n))
        for group in GROUPS:
            counts = _group_counts(shown, group).reindex(grp["pair_id"]).fillna(0).to_numpy(float)
            boot_img = counts[idx].mean(axis=1)
            boot_mp = counts[idx].sum(axis=1) / mp[idx].sum(axis=1)
            base = dict(
                codec=str(grp["codec"].iloc[0]),
                codec_tag=str(tag),
                curve=setting_curve(grp, str(tag)),
                bpp=float(pd.to_numeric(grp["bpp"], errors="coerce").mean()),
                images=n,
                megapixels=round(float(mp.sum()), 4),
                group=group,
                count=int(counts.sum()),
            )
            rows.append(_row(base, "raw", counts.mean(), counts.sum() / mp.sum(), boot_img, boot_mp))
            ev = (evidence or {}).get(group)
            if ev is None or not ev.flagged or not ev.labelled:
                continue
            # Jeffreys posteriors: precision and recall vary inside the same bootstrap as the counts
            p = rng.beta(ev.confirmed + 0.5, ev.flagged - ev.confirmed + 0.5, n_boot)
            r = rng.beta(ev.found + 0.5, ev.labelled - ev.found + 0.5, n_boot)
            factor = ev.precision / ev.recall if ev.found else float("nan")
            rows.append(
                _row(
                    base,
                    "corrected",
                    counts.mean() * factor,
                    counts.sum() / mp.sum() * factor,
                    boot_img * p / r,
                    boot_mp * p / r,
                    precision=ev.precision,
                    recall=ev.recall,
                )
            )
    return rows


def _row(base, basis, per_image, per_mp, boot_img, boot_mp, precision=None, recall=None) -> PrevalenceRow:
    lo_i, hi_i = np.nanpercentile(boot_img, [2.5, 97.5])
    lo_m, hi_m = np.nanpercentile(boot_mp, [2.5, 97.5])
    return PrevalenceRow(
        **base,
        basis=basis,
        per_image=round(float(per_image), 4),
        per_image_lo=round(float(lo_i), 4),
        per_image_hi=round(float(hi_i), 4),
        per_mp=round(float(per_mp), 4),
        per_mp_lo=round(float(lo_m), 4),
        per_mp_hi=round(float(hi_m), 4),
        precision=None if precision is None else round(precision, 4),
        recall=None if recall is None else round(recall, 4),
    )


def frame(rows: list[PrevalenceRow]) -> pd.DataFrame:
    return pd.DataFrame([asdict(r) for r in rows])
