"""Which codec settings form one curve: the family plus every parameter that does not move it along its
rate (a model's weights, chroma subsampling, precision …). The report's rate–distortion and impact
plots, the prevalence figure and the Bjøntegaard deltas all group settings by this key, so that, for
example, ``bmshj2018-factorized:q=1,weights=ganlite`` is its own curve beside the base q1/q2 and not a
third point on theirs."""

from __future__ import annotations

import json
from typing import Any

import pandas as pd

# Parameters that move a codec along its curve; the rest (subsampling, model …) make another curve.
RATE_PARAMS = frozenset(
    {"quality", "q", "qp", "crf", "lambda", "lmbda", "distance", "level", "bpp", "rate", "bits", "ratio"}
)


def params_of(text: Any) -> dict[str, Any]:
    """A setting's parameters from the run tables' JSON text (or a dict); {} when unreadable."""
    if isinstance(text, dict):
        return text
    try:
        value = json.loads(text) if isinstance(text, str) and text else {}
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def curve_key(codec: str, tag: str, params: dict[str, Any]) -> str:
    """The curve a codec setting lies on (its legend label)."""
    if codec == "external":  # every external label is its own codec, whatever it is called
        return tag
    fixed = {k: v for k, v in sorted(params.items()) if k not in RATE_PARAMS}
    return codec + (" (" + ", ".join(f"{k}={v}" for k, v in fixed.items()) + ")" if fixed else "")


def setting_curve(group: pd.DataFrame, tag: str) -> str:
    """:func:`curve_key` of one codec setting's pairs (rows of pairs.parquet with one ``codec_tag``)."""
    params = params_of(group["params"].iloc[0]) if "params" in group else {}
    return curve_key(str(group["codec"].iloc[0]), str(tag), params)
