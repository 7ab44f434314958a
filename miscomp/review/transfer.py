"""How the server gets a push's crops: Local Files storage (a loopback server whose document root
holds the run dir), upload to a helper project, or inline data URIs."""

from __future__ import annotations

import base64
import ipaddress
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote, urlparse

from miscomp.errors import MiscompError
from miscomp.review import config as cfg
from miscomp.review.client import LabelStudioClient, batched

if TYPE_CHECKING:
    from miscomp.review.push import ReviewItem

FILE_MODES = ("auto", "local", "upload", "inline")
UPLOAD_CHUNK = 40  # files per multipart request


def _is_loopback(url: str) -> bool:
    host = urlparse(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def resolve_file_mode(mode: str, url: str, run_dir: Path, document_root: Path | None) -> str:
    if mode not in FILE_MODES:
        raise MiscompError(f"--files must be one of {', '.join(FILE_MODES)}, got {mode!r}")
    if mode != "auto":
        return mode
    if _is_loopback(url) and document_root is not None and _under(run_dir, document_root):
        return "local"
    return "upload"


def _under(path: Path, root: Path) -> bool:
    path, root = path.resolve(), root.resolve()
    return path != root and root in path.parents


def local_urls(
    client: LabelStudioClient, pid: int, run_dir: Path, document_root: Path | None, items: list[ReviewItem]
) -> list[tuple[str, str]]:
    if document_root is None:
        raise MiscompError(f"--files local needs --document-root or {cfg.ENV_DOCUMENT_ROOT}")
    run_dir, root = run_dir.resolve(), document_root.resolve()
    if not _under(run_dir, root):
        raise MiscompError(f"{run_dir}: not inside the server's document root {root}")
    crops = run_dir / "crops"
    if not any(_under(crops, Path(p)) or Path(p) == crops for p in client.local_storages(pid)):
        client.add_local_storage(pid, crops, title=f"miscomp crops {run_dir.name}")

    def url(path: Path) -> str:
        return "/data/local-files/?d=" + quote(str(path.resolve().relative_to(root)))

    return [(url(i.crop_original), url(i.crop_reconstruction)) for i in items]


def upload_urls(client: LabelStudioClient, project: str, items: list[ReviewItem]) -> list[tuple[str, str]]:
    # Uploading into the review project itself is refused (two image keys in its config), so crops
    # go to a helper project with a one-image config, without creating tasks there.
    helper_title = f"{project} (miscomp crops)"
    helper = client.find_project(helper_title)
    if helper is None:
        helper = client.create_project(
            helper_title, '<View><Image name="image" value="$image"/></View>', "crop storage for miscomp"
        )
    files: list[tuple[Path, str]] = []
    for i in items:
        fid = i.data["finding_id"]
        files += [(i.crop_original, f"{fid}_orig.png"), (i.crop_reconstruction, f"{fid}_rec.png")]
    urls: dict[str, str] = {}
    for chunk in batched(files, UPLOAD_CHUNK):
        urls.update(client.upload_files(helper, [p for p, _ in chunk], [n for _, n in chunk]))
    return [
        (urls[f"{i.data['finding_id']}_orig.png"], urls[f"{i.data['finding_id']}_rec.png"]) for i in items
    ]


def inline_urls(items: list[ReviewItem]) -> list[tuple[str, str]]:
    def uri(path: Path) -> str:
        return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode()

    return [(uri(i.crop_original), uri(i.crop_reconstruction)) for i in items]
