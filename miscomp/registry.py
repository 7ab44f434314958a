"""Name → factory registries with metadata, as in CompressAI's and timm's model registries.

Codecs and detectors register themselves with a decorator; the CLI looks names up here and never
branches on names itself.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from miscomp.errors import MiscompError

T = TypeVar("T")


class UnknownNameError(MiscompError, KeyError):
    """Raised when a name is not registered; the message lists what is."""

    def __str__(self) -> str:  # KeyError quotes its message; we want plain text
        return str(self.args[0])


@dataclass(frozen=True)
class Entry(Generic[T]):
    name: str
    factory: Callable[..., T]
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def summary(self) -> str:
        doc = (self.factory.__doc__ or "").strip().splitlines()
        return doc[0] if doc else ""


class Registry(Generic[T]):
    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, Entry[T]] = {}

    def register(self, name: str, **meta: Any) -> Callable[[Callable[..., T]], Callable[..., T]]:
        def decorate(factory: Callable[..., T]) -> Callable[..., T]:
            if name in self._entries:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            self._entries[name] = Entry(name, factory, dict(meta))
            return factory

        return decorate

    def get(self, name: str) -> Entry[T]:
        try:
            return self._entries[name]
        except KeyError:
            known = ", ".join(sorted(self._entries)) or "none"
            raise UnknownNameError(f"unknown {self.kind} {name!r}; known: {known}") from None

    def create(self, name: str, **params: Any) -> T:
        return self.get(name).factory(**params)

    def names(self) -> list[str]:
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[Entry[T]]:
        return iter(self._entries[n] for n in self.names())


def import_submodules(package: str) -> None:
    """Import every module of a package so that their ``@register`` decorators run.

    Modules only register; their heavy libraries are imported lazily inside the classes.
    """
    import importlib
    import pkgutil

    pkg = importlib.import_module(package)
    for info in pkgutil.iter_modules(pkg.__path__):
        if not info.name.startswith("_"):
            importlib.import_module(f"{package}.{info.name}")


def parse_spec(spec: str) -> tuple[str, dict[str, Any]]:
    """Parse ``name:k=v,k2=v2`` (or ``name:k=v:k2=v2``) into a name and typed parameters."""
    name, _, rest = spec.partition(":")
    name = name.strip()
    if not name:
        raise MiscompError(f"empty name in spec {spec!r}")
    params: dict[str, Any] = {}
    for item in filter(None, (p.strip() for p in rest.replace(":", ",").split(","))):
        key, eq, value = item.partition("=")
        if not eq or not key:
            raise MiscompError(f"bad parameter {item!r} in {spec!r}: expected key=value")
        params[key.strip()] = _coerce(value.strip())
    return name, params


def _coerce(value: str) -> Any:
    low = value.lower()
    if low in {"true", "false"}:
        return low == "true"
    for cast in (int, float):
        try:
            return cast(value)
        except ValueError:
            pass
    return value
