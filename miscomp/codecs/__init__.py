"""Codec registry. Importing this package registers every built-in codec (their heavy libraries
are imported lazily, inside the codec, so listing codecs stays instant)."""

from miscomp.codecs.base import CODECS, Codec, CodecOutput
from miscomp.registry import import_submodules

import_submodules(__name__)


def create_codec(spec: str) -> Codec:
    """Build a codec from ``name:k=v,...``."""
    from miscomp.registry import parse_spec

    name, params = parse_spec(spec)
    return CODECS.create(name, **params)


__all__ = ["CODECS", "Codec", "CodecOutput", "create_codec"]
