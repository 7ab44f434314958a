"""A thin wrapper over label-studio-sdk: the calls push and pull need, with errors turned into one line.

Every call goes through ``_call``, which maps a dead server, a rejected key and other API errors to
MiscompError subclasses whose messages name the server and the step, never the key.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlparse

from miscomp.errors import MiscompError, require
from miscomp.review.config import Connection

T = TypeVar("T")
# Label Studio answers a task listing page by page; 1000 keeps a 10k-task project at 10 requests.
PAGE_SIZE = 1000


class LabelStudioError(MiscompError):
    pass


class ServerUnreachableError(LabelStudioError):
    pass


class AuthenticationError(LabelStudioError):
    pass


class ProjectNotFoundError(LabelStudioError):
    pass


def _short_body(body: Any) -> str:
    if isinstance(body, dict):
        for key in ("detail", "validation_errors", "message", "error"):
            if key in body:
                return str(body[key])[:300]
    return str(body)[:300]


class LabelStudioClient:
    def __init__(self, conn: Connection, timeout: float = 120.0, max_retries: int = 0) -> None:
        sdk = require("label_studio_sdk", "annotate")
        self.conn = conn
        self.url = conn.url
        # No SDK retries: a server that went away should fail the push at once, with a clear line;
        # re-running the push is what recovers (it skips findings already imported).
        self.sdk = sdk.LabelStudio(
            base_url=conn.url, api_key=conn.api_key, timeout=timeout, max_retries=max_retries
        )

    # ---- error translation -------------------------------------------------------------------------
    @contextmanager
    def _errors(self, step: str) -> Iterator[None]:
        import httpx
        from label_studio_sdk.core.api_error import ApiError

        try:
            yield
        except httpx.TransportError as err:
            reason = type(err).__name__
            raise ServerUnreachableError(
                f"cannot reach Label Studio at {self.url} while {step} ({reason}): is the server running?"
            ) from None
        except ApiError as err:
            status = err.status_code
            if status in (401, 403):
                raise AuthenticationError(
                    f"Label Studio at {self.url} rejected the API key ({status}) while {step}: "
                    "check --api-key / LABEL_STUDIO_API_KEY"
                ) from None
            raise LabelStudioError(
                f"Label Studio at {self.url} answered {status} while {step}: {_short_body(err.body)}"
            ) from None

    def _call(self, step: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        with self._errors(step):
            return fn(*args, **kwargs)

    # ---- raw HTTP for what the SDK lacks (uploads, file downloads) ---------------------------------
    def _headers(self) -> dict[str, str]:
        # The SDK's wrapper knows both token kinds (legacy "Token", PAT → refreshed "Bearer").
        with self._errors("authenticating"):
            headers = self.sdk._client_wrapper.get_headers()
        return {"Authorization": headers["Authorization"]}

    def _http(self, method: str, path: str, step: str, **kwargs: Any):
        import httpx

        with self._errors(step):
            resp = httpx.request(method, self.url + path, headers=self._headers(), timeout=120, **kwargs)
        if resp.status_code in (401, 403):
            raise AuthenticationError(f"Label Studio at {self.url} rejected the API key ({resp.status_code})")
        if resp.status_code >= 400:
            raise LabelStudioError(
                f"Label Studio at {self.url} answered {resp.status_code} while {step}: {resp.text[:300]}"
            )
        return resp

    # ---- calls --------------------------------------------------------------------------------------
    def check(self) -> str:
        """Fail early (unreachable, bad key); returns the user's email."""
        return self._call("checking the API key", self.sdk.users.whoami).email or ""

    def find_project(self, title: str) -> int | None:
        found = self._call("looking up projects", lambda: list(self.sdk.projects.list(title=title)))
        ids = sorted(p.id for p in found if p.title == title)
        return ids[0] if ids else None

    def require_project(self, title: str) -> int:
        pid = self.find_project(title)
        if pid is None:
            raise ProjectNotFoundError(f"no project titled {title!r} on Label Studio at {self.url}")
        return pid

    def create_project(self, title: str, label_config: str, description: str = "") -> int:
        proj = self._call(
            f"creating project {title!r}",
            self.sdk.projects.create,
            title=title,
            label_config=label_config,
            description=description,
        )
        return proj.id

    def update_project(self, pid: int, **settings: Any) -> None:
        step = f"updating project {pid} ({', '.join(settings)})"
        self._call(step, self.sdk.projects.update, pid, **settings)

    def update_task(self, task_id: int, **fields: Any) -> None:
        self._call(
            f"updating task {task_id} ({', '.join(fields)})", self.sdk.tasks.update, str(task_id), **fields
        )

    def project_config(self, pid: int) -> str:
        return self._call("reading the project", self.sdk.projects.get, pid).label_config or ""

    def tasks(self, pid: int, with_annotations: bool = False) -> list[dict[str, Any]]:
        """Every task of a project as plain dicts (id, data and, if asked, annotations)."""

        def listing() -> list[dict[str, Any]]:
            pager = self.sdk.tasks.list(
                project=pid, page_size=PAGE_SIZE, fields="all" if with_annotations else "task_only"
            )
            return [t.model_dump() for t in pager]

        return self._call("listing tasks", listing)

    def import_tasks(self, pid: int, tasks: list[dict[str, Any]]) -> list[int]:
        resp = self._call(
            f"importing {len(tasks)} tasks",
            self.sdk.projects.import_tasks,
            pid,
            request=tasks,
            return_task_ids=True,
            commit_to_project=True,
        )
        return list(getattr(resp, "task_ids", None) or [])

    def local_storages(self, pid: int) -> list[str]:
        storages = self._call("listing storages", self.sdk.import_storage.local.list, project=pid)
        return [s.path for s in storages if s.path]

    def add_local_storage(self, pid: int, path: Path, title: str) -> None:
        self._call(
            f"adding Local Files storage {path}",
            self.sdk.import_storage.local.create,
            project=pid,
            path=str(path),
            title=title,
            use_blob_urls=False,
        )

    def upload_files(self, pid: int, paths: list[Path], names: list[str]) -> dict[str, str]:
        """Upload files to a (helper) project without creating tasks; returns name → /data/upload URL.

        Each file gets its own multipart field: under one shared field name only one is stored.
        """
        files = {}
        handles = []
        try:
            for i, (path, name) in enumerate(zip(paths, names, strict=True)):
                fh = open(path, "rb")  # noqa: SIM115 - closed below
                handles.append(fh)
                files[f"file{i}"] = (name, fh, "image/png")
            resp = self._http(
                "POST",
                f"/api/projects/{pid}/import",
                f"uploading {len(paths)} crops",
                params={"commit_to_project": "false"},
                files=files,
            )
        finally:
            for fh in handles:
                fh.close()
        ids = resp.json().get("file_upload_ids", [])
        listing = self._http(
            "GET", f"/api/projects/{pid}/file-uploads", "listing uploads", params={"ids": json.dumps(ids)}
        ).json()
        out: dict[str, str] = {}
        for item in listing:
            stored = item["file"]  # upload/<pid>/<uuid8>-<name>
            original_name = Path(stored).name.split("-", 1)[-1]
            out[original_name] = "/data/" + stored
        missing = set(names) - set(out)
        if missing:
            raise LabelStudioError(f"Label Studio at {self.url} did not store uploads {sorted(missing)[:3]}")
        return out

    def download(self, url: str) -> bytes:
        """Fetch a task's file URL (local-files, upload, or data: URI) with our credentials."""
        if url.startswith("data:"):
            import base64

            return base64.b64decode(url.split(",", 1)[1])
        parsed = urlparse(url)
        path = url if not parsed.scheme else parsed.path + (f"?{parsed.query}" if parsed.query else "")
        return self._http("GET", path, f"downloading {path}").content


def batched(items: list[T], size: int) -> Iterable[list[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
