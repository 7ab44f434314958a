"""Pairs: what is compared (an original and a reconstruction), where they come from, and the bundled
sample set."""

from miscomp.pairs.records import Pair, PairRecord, find_originals, make_pair_id, safe_id

__all__ = ["Pair", "PairRecord", "find_originals", "make_pair_id", "safe_id"]
