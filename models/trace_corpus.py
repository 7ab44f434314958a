"""The training/evaluation corpus of the trace detector: image tiles through many codecs.

Tiles (256×256) are cut from originals at random offsets and then *encoded as tiles*, so every codec
grid starts at the tile's origin, as it does at an image's origin. Each (tile, codec) row records the
codec family (the unit of leave-one-codec-out), bpp, the label (1 = went through a learned codec) and
the features. Rows are cached one JSON file per tile under ``cache``, so the build is resumable and a
second run only adds what is missing.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from miscomp.forensics.features import FEATURE_VERSION, FEATURES, TILE, tile_features

# (family, codec spec, learned?) — rates chosen to span each codec's useful range on Kodak
CODEC_GRID: tuple[tuple[str, str, bool], ...] = (
    *(("jpeg", f"jpeg:quality={q}", False) for q in (5, 10, 20, 30, 50, 70, 90)),
    *(("webp", f"webp:quality={q}", False) for q in (5, 20, 40, 60, 80)),
    *(("avif", f"avif:quality={q}", False) for q in (10, 30, 50, 70)),
    *(("jpeg2000", f"jpeg2000:ratio={r}", False) for r in (16, 32, 64, 128, 256)),
    *(("bmshj2018", f"bmshj2018-factorized:q={q}", True) for q in (1, 2)),
    *(("taef2", f"taef2:bits={b}", True) for b in (2, 3, 4, 5, 6)),
)


# Families that are not in the shipped model's corpus; added with ``extra=`` (benchmarks/trace_loco.py
# --with ganlite): the in-house GAN-lite decoder (issue 31), same bitstream as bmshj2018-factorized q1.
EXTRA_GRID: dict[str, tuple[tuple[str, str, bool], ...]] = {
    "ganlite": (("ganlite", "bmshj2018-factorized:q=1,weights=ganlite", True),),
}


@dataclass(frozen=True)
class Source:
    source_id: str
    group: str  # kodak / skimage / plates
    load: object  # () -> RGB uint8


def sources(shared: Path, n_plates: int = 30) -> list[Source]:
    from PIL import Image

    def loader(path: Path):  # noqa: ANN202
        return lambda: np.asarray(Image.open(path).convert("RGB"))

    out = [Source(p.stem, "kodak", loader(p)) for p in sorted((shared / "data" / "kodak").glob("kodim*.png"))]
    import skimage.data as skd

    for name in ("astronaut", "chelsea", "coffee", "rocket", "immunohistochemistry", "retina", "skin"):
        try:
            img = np.asarray(getattr(skd, name)())
        except Exception:  # noqa: BLE001 - photos that need a download are skipped offline
            continue
        if img.ndim == 3 and img.shape[2] >= 3 and min(img.shape[:2]) >= TILE:
            out.append(Source(f"skimage-{name}", "skimage", lambda img=img: img[..., :3].copy()))
    seen: set[str] = set()
    for p in plate_sample(shared, n_plates):
        sid = f"plate-{p.stem[:12]}"
        if sid not in seen:  # us/ and eu/ share some name prefixes: one photo per id
            seen.add(sid)
            out.append(Source(sid, "plates", loader(p)))
    return out


def plate_sample(shared: Path, n_plates: int = 30) -> list[Path]:
    """The plate photos in the corpus (seeded sample); the others are held out from training."""
    plates = sorted((shared / "data" / "plates").glob("*/*.jpg"))
    rng = np.random.default_rng(1)
    return [
        Path(p) for p in sorted(rng.choice(plates, size=min(n_plates, len(plates)), replace=False).tolist())
    ]


def crops(rgb: np.ndarray, n: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    h, w = rgb.shape[:2]
    if h < TILE or w < TILE:
        return []
    return [
        rgb[y : y + TILE, x : x + TILE].copy()
        for y, x in (
            (int(rng.integers(0, h - TILE + 1)), int(rng.integers(0, w - TILE + 1))) for _ in range(n)
        )
    ]


def _slug(spec: str) -> str:
    return spec.replace(":", "_").replace("=", "").replace(",", "_")


def encode_tiles(
    shared: Path,
    cache: Path,
    tiles_per_source: int = 2,
    n_plates: int = 30,
    log: bool = True,
    extra: tuple[str, ...] = (),
    built_only: bool = False,
) -> list[dict]:
    """Encode every tile with every codec once; reconstructions are kept as PNG under ``cache`` (so
    features can change without re-encoding). Returns one record per (tile, codec) of
    ``CODEC_GRID`` plus the ``EXTRA_GRID`` families named in ``extra`` (the default corpus without).
    ``built_only``: skip tiles that lack any ``CODEC_GRID`` codec (a corpus still being built); the
    ``extra`` codecs are still added to the tiles kept, from their saved original."""
    grid = (*CODEC_GRID, *(g for name in extra for g in EXTRA_GRID[name]))
    wanted = {"original", *(g[1] for g in grid)}
    from PIL import Image

    from miscomp.codecs import create_codec

    codecs: dict[str, object] = {}
    records: list[dict] = []
    for s_i, src in enumerate(sources(shared, n_plates)):
        n = 1 if src.group == "plates" else tiles_per_source
        tiles_ = None
        for t_i in range(n):
            folder = cache / "tiles" / f"{src.source_id}_{t_i}"
            meta_path = folder / "meta.json"
            meta: dict[str, dict] = json.loads(meta_path.read_text()) if meta_path.is_file() else {}
            todo = [g for g in (("original", "original", False), *grid) if g[1] not in meta]
            extra_only = {g[1] for g in todo} <= {g[1] for name in extra for g in EXTRA_GRID[name]}
            if todo and built_only and not extra_only:
                continue
            if todo:
                if extra_only:  # the tile as cut when the corpus was built
                    tile = np.asarray(Image.open(folder / "original.png").convert("RGB"))
                else:
                    if tiles_ is None:
                        tiles_ = crops(src.load(), n, seed=s_i)
                    if t_i >= len(tiles_):
                        break
                    folder.mkdir(parents=True, exist_ok=True)
                    tile = tiles_[t_i]
                for family, spec, learned in todo:
                    if spec == "original":
                        rec, bpp = tile, 24.0
                    else:
                        if spec not in codecs:
                            codecs[spec] = create_codec(spec)
                        out = codecs[spec].apply(tile)
                        rec, bpp = out.reconstruction, out.n_bytes * 8 / TILE**2
                    Image.fromarray(rec).save(folder / f"{_slug(spec)}.png", compress_level=1)
                    meta[spec] = {
                        "source": src.source_id,
                        "group": src.group,
                        "tile": t_i,
                        "family": family,
                        "codec": spec,
                        "bpp": bpp,
                        "label": int(learned),
                        "file": f"{_slug(spec)}.png",
                    }
                tmp = meta_path.with_suffix(".tmp")
                tmp.write_text(json.dumps(meta))
                tmp.replace(meta_path)
                if log:
                    print(f"corpus: {src.source_id} tile {t_i} encoded", flush=True)
            records += [{**m, "path": str(folder / m["file"])} for m in meta.values() if m["codec"] in wanted]
    return records


def load_table(shared: Path, cache: Path, **kw):  # noqa: ANN201
    """The corpus with the current features (recomputed when FEATURES change; cached as Parquet)."""
    import hashlib

    import pandas as pd
    from PIL import Image

    records = encode_tiles(shared, cache, **kw)
    key = hashlib.sha1((",".join(FEATURES) + FEATURE_VERSION).encode()).hexdigest()[:8]
    table = cache / f"features-{key}.parquet"
    done = pd.read_parquet(table) if table.is_file() else pd.DataFrame(columns=["path"])
    have = set(done["path"])
    new = []
    for r in records:
        if r["path"] not in have:
            rgb = np.asarray(Image.open(r["path"]).convert("RGB"))
            new.append({**r, **dict(zip(FEATURES, tile_features(rgb), strict=True))})
    if new:
        done = pd.concat([done, pd.DataFrame(new)], ignore_index=True) if len(done) else pd.DataFrame(new)
        done.to_parquet(table, index=False)
    done = done.drop_duplicates("path")
    return done[done["path"].isin({r["path"] for r in records})].reset_index(drop=True)


if __name__ == "__main__":  # python -m models.trace_corpus: fill the cache
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    shared = Path(os.environ.get("MISCOMP_SHARED", "../shared"))
    df = load_table(shared, Path(".work/trace-corpus"))
    print(df.groupby("family").size())


# TAEF2's outputs sit among the originals in feature space (its decoder draws plausible texture and
# leaves almost no periodic residue). At full weight the model bought 65 % TAEF2 detection with 42 %
# of originals called "learned" (source-held-out CV, p >= 0.5); at 0.3: 46 % TAEF2, 17 % originals,
# and bmshj2018 stays at 100 %. A scan warns about originals, so false alarms there cost more.
FAMILY_WEIGHT = {"taef2": 0.3}


def sample_weights(table, family_weight: dict[str, float] | None = None) -> np.ndarray:  # noqa: ANN001
    """Every codec family weighs the same within its class (times ``family_weight``), and the two
    classes weigh the same: otherwise JPEG's seven rates would dominate the negatives and TAEF2's five
    rates the positives."""
    family_weight = FAMILY_WEIGHT if family_weight is None else family_weight
    w = np.ones(len(table))
    for label in (0, 1):
        in_class = (table["label"] == label).to_numpy()
        fams = table.loc[in_class, "family"]
        for fam, n in fams.value_counts().items():
            share = family_weight.get(str(fam), 1.0)
            w[in_class & (table["family"] == fam).to_numpy()] = share / (n * fams.nunique())
    return w / w.mean()


def fit(table, c: float = 1.0) -> dict:  # noqa: ANN001
    """Fit the logistic regression; return the JSON-ready model (no pickle)."""
    from sklearn.linear_model import LogisticRegression

    x = table[list(FEATURES)].to_numpy(dtype=np.float64)
    y = table["label"].to_numpy()
    mean, scale = x.mean(axis=0), x.std(axis=0) + 1e-9
    clf = LogisticRegression(C=c, max_iter=5000)
    clf.fit((x - mean) / scale, y, sample_weight=sample_weights(table))
    return {
        "kind": "logistic regression on standardised tile features",
        "version": f"{FEATURE_VERSION}-c{c}",
        "family_weight": FAMILY_WEIGHT,
        "features": list(FEATURES),
        "mean": mean.round(6).tolist(),
        "scale": scale.round(6).tolist(),
        "coef": clf.coef_[0].round(6).tolist(),
        "intercept": round(float(clf.intercept_[0]), 6),
        "typical": {
            "original": np.median(x[table["family"].to_numpy() == "original"], axis=0).round(4).tolist(),
            "learned": np.median(x[y == 1], axis=0).round(4).tolist(),
        },
        "trained_on": {
            "tiles": int(table[["source", "tile"]].drop_duplicates().shape[0]),
            "rows": len(table),
            "families": sorted(table["family"].unique().tolist()),
            "codecs": sorted(table["codec"].unique().tolist()),
        },
    }
