"""Pairs: what is compared (an original and a reconstruction), where they come from, and the bundled
sample set."""

from miscomp.pairs.records import (
    Originals,
    Pair,
    PairRecord,
    find_originals,
    image_id_for,
    make_pair_id,
    safe_id,
)

__all__ = ["Originals", "Pair", "PairRecord", "find_originals", "image_id_for", "make_pair_id", "safe_id"]
