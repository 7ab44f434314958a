"""The labeling config, the names in it, and client-side validation of predictions against it.

Label Studio accepts unknown ``from_name``s and labels silently (201), so every prediction is
checked here, against the config of the project it goes to, before it is sent.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path

from miscomp.errors import MiscompError
from miscomp.findings import Category

# Names in labeling_config.xml: the single place the rest of the package learns them from.
ORIGINAL = "original"
RECONSTRUCTION = "reconstruction"
REGION = "region"
REGION_LABEL = "miscompression"
# The tool's box drawn on the original crop too, so the reviewer sees where to compare. Pull reads
# only REGION (the reconstruction side), so this one is display, not a label.
REGION_ORIGINAL = "region_original"
REGION_ORIGINAL_LABEL = "flagged region"
CATEGORY = "category"
NOTES = "notes"
NOT_MISCOMPRESSION = "not a miscompression"
SYMBOL = "symbol"
# The human's single choice; ``symbol`` is a choice here and a flag on Finding.
CHOICES: tuple[str, ...] = (*(c.value for c in Category), SYMBOL, NOT_MISCOMPRESSION)
# Human choice → dataset label (short, no spaces).
HUMAN_LABELS = {**{c: c for c in CHOICES}, NOT_MISCOMPRESSION: "none"}

ENV_URL = "LABEL_STUDIO_URL"
ENV_API_KEY = "LABEL_STUDIO_API_KEY"
ENV_DOCUMENT_ROOT = "LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT"

_CONTROL_TYPES = {"Choices": "choices", "RectangleLabels": "rectanglelabels", "TextArea": "textarea",
                  "Labels": "labels", "Rectangle": "rectangle"}  # fmt: skip


class PredictionError(MiscompError):
    pass


@cache
def label_config() -> str:
    return resources.files("miscomp.review").joinpath("labeling_config.xml").read_text()


@dataclass(frozen=True)
class Control:
    name: str
    type: str  # the result "type", e.g. "choices"
    to_name: frozenset[str]
    values: frozenset[str]  # allowed labels/choices (empty for free text)


def parse_controls(config: str) -> tuple[dict[str, Control], frozenset[str]]:
    """Controls by name, and the names of object tags (Image, Text ...) in a labeling config."""
    try:
        root = ET.fromstring(config)
    except ET.ParseError as err:
        raise PredictionError(f"labeling config is not valid XML: {err}") from err
    controls: dict[str, Control] = {}
    objects: set[str] = set()
    for el in root.iter():
        name = el.get("name")
        if name is None:
            continue
        if el.tag in _CONTROL_TYPES:
            values = {c.get("value", "") for c in el if c.tag in ("Choice", "Label")}
            to = frozenset(el.get("toName", "").split(","))
            controls[name] = Control(name, _CONTROL_TYPES[el.tag], to, frozenset(values))
        elif el.get("value", "").startswith("$"):
            objects.add(name)
    return controls, frozenset(objects)


def validate_result(result: list[dict], config: str) -> None:
    """Raise PredictionError unless every result item fits the labeling config exactly."""
    controls, objects = parse_controls(config)
    for i, item in enumerate(result):
        where = f"result item {i} ({item.get('from_name')!r})"
        ctrl = controls.get(item.get("from_name", ""))
        if ctrl is None:
            raise PredictionError(f"{where}: no control of that name in the labeling config")
        to_name = item.get("to_name")
        if to_name not in objects or to_name not in ctrl.to_name:
            raise PredictionError(f"{where}: to_name {to_name!r} is not an object this control labels")
        if item.get("type") != ctrl.type:
            raise PredictionError(f"{where}: type {item.get('type')!r}, the config says {ctrl.type!r}")
        value = item.get("value", {})
        labels = value.get(ctrl.type, []) if ctrl.type in ("choices", "rectanglelabels", "labels") else []
        unknown = [v for v in labels if v not in ctrl.values]
        if unknown:
            raise PredictionError(f"{where}: {unknown} not among {sorted(ctrl.values)}")
        if ctrl.type in ("rectanglelabels", "rectangle"):
            for key in ("x", "y", "width", "height"):
                v = value.get(key)
                if not isinstance(v, int | float) or not 0.0 <= v <= 100.0:
                    raise PredictionError(f"{where}: {key}={v!r} is not a percentage in [0, 100]")
            if value["x"] + value["width"] > 100.0001 or value["y"] + value["height"] > 100.0001:
                raise PredictionError(f"{where}: rectangle extends past the image")


def validate_prediction(prediction: dict, config: str) -> None:
    score = prediction.get("score")
    if not isinstance(score, int | float) or not 0.0 <= score <= 1.0:
        raise PredictionError(f"prediction score {score!r} is not in [0, 1]")
    if not prediction.get("model_version"):
        raise PredictionError("prediction has no model_version")
    validate_result(prediction.get("result", []), config)


@dataclass(frozen=True)
class Connection:
    """Where the server is and how to authenticate; the key never appears in repr or messages."""

    url: str
    api_key: str

    def __repr__(self) -> str:
        return f"Connection(url={self.url!r}, api_key=***)"


class ConnectionConfigError(MiscompError):
    pass


def resolve_document_root(explicit: Path | None = None) -> Path | None:
    """The server's Local Files root: the flag, then LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT, else None."""
    if explicit is not None:
        return explicit
    value = os.environ.get(ENV_DOCUMENT_ROOT, "").strip()
    return Path(value) if value else None


def resolve_connection(url: str | None = None, api_key: str | None = None) -> Connection:
    """Flags first, then LABEL_STUDIO_URL / LABEL_STUDIO_API_KEY."""
    url = url or os.environ.get(ENV_URL)
    api_key = api_key or os.environ.get(ENV_API_KEY)
    if not url:
        raise ConnectionConfigError(f"no Label Studio URL: pass --url or set {ENV_URL}")
    if not url.startswith(("http://", "https://")):
        raise ConnectionConfigError(f"Label Studio URL must start with http:// or https://, got {url!r}")
    if not api_key:
        raise ConnectionConfigError(f"no Label Studio API key: pass --api-key or set {ENV_API_KEY}")
    return Connection(url.rstrip("/"), api_key)
