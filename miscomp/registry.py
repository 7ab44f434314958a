"""Name → factory registries with metadata, as in CompressAI's and timm's model registries.

Codecs and detectors register themselves with a decorator; the CLI looks names up here and never
branches on names itself.
"""

from __future__ import annotations

import inspect
import types
import typing
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

    def parameters(self) -> list[Parameter]:
        """The parameters a spec may set, from the factory's signature and type hints."""
        return [p for p in _parameters(self.factory) if p.name not in _INTERNAL]

    def check_params(self, kind: str, params: dict[str, Any]) -> dict[str, Any]:
        """``params`` checked by name and type against :meth:`parameters` (ints where a float is
        expected become floats); raises MiscompError naming the parameter and the expected type."""
        known = {p.name: p for p in _parameters(self.factory)}
        open_ended = _takes_kwargs(self.factory)
        out = dict(params)
        for key, value in params.items():
            p = known.get(key)
            if p is None:
                if open_ended:
                    continue
                have = ", ".join(p.name for p in self.parameters()) or "none"
                raise MiscompError(f"{kind} {self.name} has no parameter {key!r} (its parameters: {have})")
            out[key] = p.convert(value, f"{kind} {self.name}")
        return out


_TYPE_WORDS = {int: "a whole number", float: "a number", bool: "true or false", str: "text"}


@dataclass(frozen=True)
class Parameter:
    name: str
    type: type | None  # int, float, bool or str; None: not checked
    default: Any = inspect.Parameter.empty

    def __str__(self) -> str:
        d = self.default
        if d is inspect.Parameter.empty:
            return f"{self.name} (required)"
        text = "" if d is None else str(d).lower() if isinstance(d, bool) else '""' if d == "" else str(d)
        return f"{self.name}={text}"

    def convert(self, value: Any, owner: str) -> Any:
        t = self.type
        if t is None or value is None:
            return value
        ok = {
            int: isinstance(value, int) and not isinstance(value, bool),
            float: isinstance(value, (int, float)) and not isinstance(value, bool),
            bool: isinstance(value, bool),
            str: True,
        }.get(t, True)
        if not ok:
            example = "" if self.default is inspect.Parameter.empty else f", e.g. {self.name}={self.default}"
            raise MiscompError(
                f"{owner}: parameter {self.name} expects {_TYPE_WORDS[t]}{example}; got {value!r}"
            )
        if t is float:
            return float(value)
        if t is str and not isinstance(value, str):
            return str(value).lower() if isinstance(value, bool) else str(value)
        return value


# Arguments the pipeline passes itself: accepted, but not listed as user parameters.
_INTERNAL = {"cache_dir"}


def _parameters(factory: Callable[..., Any]) -> list[Parameter]:
    try:
        sig = inspect.signature(factory)
    except (TypeError, ValueError):
        return []
    hints: dict[str, Any] = {}
    for target in (factory, getattr(factory, "__init__", None)):
        try:
            hints.update(typing.get_type_hints(target) if target is not None else {})
        except Exception:  # noqa: BLE001, S112 - unresolvable hints: that parameter is not type-checked
            continue
    out = []
    for p in sig.parameters.values():
        if p.name == "self" or p.name.startswith("_") or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        out.append(Parameter(p.name, _base_type(hints.get(p.name)), p.default))
    return out


def _base_type(tp: Any) -> type | None:
    """int/float/bool/str from a hint, ``X | None`` unwrapped; None for anything else."""
    if isinstance(tp, types.UnionType) or typing.get_origin(tp) is typing.Union:
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        tp = args[0] if len(args) == 1 else None
    return tp if tp in _TYPE_WORDS else None


def _takes_kwargs(factory: Callable[..., Any]) -> bool:
    try:
        return any(p.kind is p.VAR_KEYWORD for p in inspect.signature(factory).parameters.values())
    except (TypeError, ValueError):
        return True


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
        entry = self.get(name)
        return entry.factory(**entry.check_params(self.kind, params))

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


def accepts(factory: Callable[..., Any], keyword: str) -> bool:
    """Whether ``factory`` (a function or class) takes ``keyword``: a run-wide setting such as the
    device is passed only to the codecs and detectors that use it."""
    import inspect

    try:
        params = inspect.signature(factory).parameters
    except (TypeError, ValueError):
        return False
    return keyword in params


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
