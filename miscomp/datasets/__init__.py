"""The image datasets the field evaluates on: fetch (resumable, checksum-verified, unpacked) and build.

Manifests live in ``datasets/<name>.json`` (URLs relative to ``base_url``, sizes, SHA-256). A file whose
manifest has no checksum is still downloaded, but reported as UNVERIFIED, never silently accepted.
``build`` runs originals × codecs × qualities through the scan and, if asked, pushes the findings to
Label Studio, recording what it built in ``build.json``.
"""

from __future__ import annotations

import json
import tarfile
import zipfile
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from miscomp import __version__
from miscomp.errors import ChecksumError, DownloadError, MiscompError  # noqa: F401 - re-exported
from miscomp.io import IMAGE_SUFFIXES, atomic_write_text, file_sha256
from miscomp.settings import ENV, Settings
from miscomp.weights import download_file

ENV_MANIFESTS = ENV["dataset_manifests"]
ENV_BASE_URL = ENV["dataset_base_url"]
ENV_DATA_DIR = ENV["data_dir"]
CHUNK = 1 << 20


class DatasetError(MiscompError):
    pass


@dataclass(frozen=True)
class DatasetFile:
    path: str  # relative to base_url, and where it lands under the dataset dir
    sha256: str | None
    size: int | None = None
    unpack: bool = False  # zip / tar archives are unpacked into the dataset dir


@dataclass(frozen=True)
class Manifest:
    name: str
    title: str
    base_url: str
    files: tuple[DatasetFile, ...]
    homepage: str = ""
    license: str = ""
    note: str = ""


@dataclass
class FetchReport:
    name: str
    dest: str
    downloaded: list[str] = field(default_factory=list)
    resumed: list[str] = field(default_factory=list)
    cached: list[str] = field(default_factory=list)
    verified: list[str] = field(default_factory=list)
    unverified: list[str] = field(default_factory=list)  # no published checksum to check against
    unpacked: list[str] = field(default_factory=list)


# ---- manifests -------------------------------------------------------------------------------------
def manifest_dir() -> Path:
    return Settings.from_env().dataset_manifests


def list_manifests() -> list[Manifest]:
    return [load_manifest(p.stem) for p in sorted(manifest_dir().glob("*.json"))]


def load_manifest(name: str) -> Manifest:
    path = manifest_dir() / f"{name}.json"
    if not path.is_file():
        known = ", ".join(p.stem for p in sorted(manifest_dir().glob("*.json"))) or "none"
        raise DatasetError(f"{path}: no such dataset manifest (known: {known})")
    try:
        raw = json.loads(path.read_text())
        files = tuple(
            DatasetFile(f["path"], f.get("sha256"), f.get("size"), bool(f.get("unpack", False)))
            for f in raw["files"]
        )
        return Manifest(
            raw["name"], raw.get("title", raw["name"]), raw["base_url"], files,
            raw.get("homepage", ""), raw.get("license", ""), raw.get("note", ""),
        )  # fmt: skip
    except (ValueError, KeyError, TypeError) as err:
        raise DatasetError(f"{path}: malformed manifest ({err!r})") from None


def default_dest(name: str) -> Path:
    return Settings.from_env().data_dir / name


# ---- fetch -------------------------------------------------------------------------------------------
def _unpack(archive: Path, dest: Path) -> None:
    name = archive.name.lower()
    try:
        if name.endswith(".zip"):
            with zipfile.ZipFile(archive) as zf:
                for member in zf.namelist():
                    target = (dest / member).resolve()
                    if dest.resolve() not in (target, *target.parents):
                        raise DatasetError(f"{archive}: member {member!r} escapes the dataset folder")
                zf.extractall(dest)
        elif name.endswith((".tar", ".tar.gz", ".tgz", ".tar.xz", ".tar.bz2")):
            with tarfile.open(archive) as tf:
                tf.extractall(dest, filter="data")  # refuses absolute paths, .., devices, links out
        else:
            raise DatasetError(f"{archive}: unpack requested but the format is not zip or tar")
    except (zipfile.BadZipFile, tarfile.TarError) as err:
        raise DatasetError(f"{archive}: cannot unpack ({err})") from None


def fetch(
    name: str, dest: Path | None = None, base_url: str | None = None, timeout: float = 60.0
) -> FetchReport:
    """Download, verify and unpack a dataset; re-running resumes partial files and skips done ones."""
    man = load_manifest(name)
    dest = (dest or default_dest(name)).resolve()
    base = (base_url or Settings.from_env().dataset_base_url or man.base_url).rstrip("/") + "/"
    report = FetchReport(name, str(dest))
    downloads = dest / ".downloads"
    for f in man.files:
        final = (downloads if f.unpack else dest) / f.path
        final.parent.mkdir(parents=True, exist_ok=True)
        if final.exists() and _matches(final, f):
            report.cached.append(f.path)
        else:
            resumed = download_file(base + f.path, final, sha256=f.sha256 or "", size=f.size, timeout=timeout)
            (report.resumed if resumed else report.downloaded).append(f.path)
        (report.verified if f.sha256 else report.unverified).append(f.path)
        if f.unpack:
            marker = dest / f".unpacked-{Path(f.path).name}"
            if not marker.exists():
                _unpack(final, dest)
                atomic_write_text(marker, f.sha256 or "unverified")
                report.unpacked.append(f.path)
    atomic_write_text(dest / "fetch.json", json.dumps(asdict(report) | {"manifest": asdict(man)}, indent=2))
    return report


def _matches(path: Path, f: DatasetFile) -> bool:
    if f.size is not None and path.stat().st_size != f.size:
        return False
    return f.sha256 is None or file_sha256(path) == f.sha256


# ---- build -------------------------------------------------------------------------------------------
def expand_codecs(codecs: list[str], qualities: list[int], quality_key: str = "quality") -> list[str]:
    """``jpeg`` × [5, 10] → ``jpeg:quality=5``, ``jpeg:quality=10``; full specs pass through."""
    if not qualities:
        return list(codecs)
    out = []
    for spec in codecs:
        if f"{quality_key}=" in spec:
            out.append(spec)
            continue
        sep = "," if ":" in spec else ":"
        out += [f"{spec}{sep}{quality_key}={q}" for q in qualities]
    return out


def resolve_originals(source: str) -> Path:
    """A folder of images, or the name of a fetched dataset."""
    path = Path(source)
    if path.is_dir():
        return path
    if (manifest_dir() / f"{source}.json").is_file():
        dest = default_dest(source)
        if not (dest / "fetch.json").is_file():
            raise DatasetError(f"dataset {source!r} is not fetched yet: run `miscomp dataset fetch {source}`")
        return image_folder(dest)
    raise DatasetError(f"{source}: neither a folder of images nor a known dataset")


def build(
    source: str,
    out: Path,
    codecs: list[str],
    qualities: list[int] | None = None,
    quality_key: str = "quality",
    detectors: list[str] | None = None,
    push: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """originals × codecs × qualities → scan → (push). ``push``: kwargs for push_run, incl. ``conn``."""
    from miscomp.run import ScanConfig, run_scan

    originals = resolve_originals(source)
    specs = expand_codecs(codecs, qualities or [], quality_key)
    if not specs:
        raise DatasetError("no codecs given: pass --codec (and --quality to sweep it)")
    summary = run_scan(
        ScanConfig(out=out, originals=originals, codecs=specs, detectors=detectors, quiet=True)
    )
    record: dict[str, Any] = {
        "miscomp": __version__,
        "built_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "source": source,
        "originals": str(originals),
        "codecs": specs,
        "detectors": detectors,
        "scan": summary.to_dict(),
        "push": None,
    }
    if push is not None:
        from miscomp.review.push import push_run

        result = push_run(out, **push)
        record["push"] = {**asdict(result), "server": push["conn"].url}
    from miscomp.io import atomic_write_text

    atomic_write_text(out / "build.json", json.dumps(record, indent=2, default=str))
    return record


def image_folder(dest: Path) -> Path:
    """The folder of a fetched dataset that holds its images (archives unpack into a subfolder)."""
    counts: dict[Path, int] = {}
    for p in dest.rglob("*"):
        if p.suffix.lower() in IMAGE_SUFFIXES and ".downloads" not in p.relative_to(dest).parts:
            counts[p.parent] = counts.get(p.parent, 0) + 1
    if not counts:
        raise DatasetError(f"{dest}: no images found in the fetched dataset")
    return max(counts, key=lambda d: (counts[d], -len(d.parts)))
