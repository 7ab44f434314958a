"""Codec registry. Importing this package registers every built-in codec (their heavy libraries
are imported lazily, inside the codec, so listing codecs stays instant)."""

from miscomp.codecs.base import CODECS, Codec, CodecOutput
from miscomp.registry import import_submodules

import_submodules(__name__)


def create_codec(spec: str, device: str | None = None) -> Codec:
    """Build a codec from ``name:k=v,...``; ``device`` reaches codecs that run a model (those whose
    factory takes a ``device``), unless the spec names one itself."""
    from miscomp.registry import accepts, parse_spec

    name, params = parse_spec(spec)
    if device is not None and "device" not in params and accepts(CODECS.get(name).factory, "device"):
        params["device"] = device
    return CODECS.create(name, **params)


__all__ = ["CODECS", "Codec", "CodecOutput", "create_codec"]
