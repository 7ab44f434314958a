"""The labeling config, prediction validation and connection settings (no server needed)."""

from __future__ import annotations

import copy

import pytest

from miscomp.review import config as cfg

GOOD = {
    "model_version": "miscomp-0.1.0-diff",
    "score": 0.7,
    "result": [
        {"from_name": "region", "to_name": "reconstruction", "type": "rectanglelabels",
         "value": {"x": 10.0, "y": 20.0, "width": 30.0, "height": 40.0,
                   "rectanglelabels": ["miscompression"]}},
        {"from_name": "category", "to_name": "reconstruction", "type": "choices",
         "value": {"choices": ["shape"]}},
    ],
}  # fmt: skip


def test_config_has_the_names_the_code_uses():
    controls, objects = cfg.parse_controls(cfg.label_config())
    assert {cfg.ORIGINAL, cfg.RECONSTRUCTION} <= objects
    assert controls[cfg.CATEGORY].values == frozenset(cfg.CHOICES)
    assert controls[cfg.REGION].values == {cfg.REGION_LABEL}
    assert controls[cfg.NOTES].type == "textarea"
    assert set(cfg.CHOICES) == {"amplitude", "geometry", "shape", "symbol", "not a miscompression"}


def test_sdk_accepts_the_config_and_a_good_prediction():
    from label_studio_sdk.label_interface import LabelInterface

    li = LabelInterface(cfg.label_config())
    assert li.validate_prediction(GOOD, return_errors=True) == []
    cfg.validate_prediction(GOOD, cfg.label_config())


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (("result", 1, "from_name"), "categroy", "no control of that name"),
        (("result", 1, "value", "choices"), ["symbols"], "not among"),
        (("result", 0, "value", "rectanglelabels"), ["diff"], "not among"),
        (("result", 0, "to_name"), "original", "not an object this control labels"),
        (("result", 0, "type"), "rectangle", "the config says"),
        (("result", 0, "value", "x"), 80.0, "extends past the image"),
        (("result", 0, "value", "width"), 130.0, "not a percentage"),
        (("score",), 1.5, "not in \\[0, 1\\]"),
        (("model_version",), "", "no model_version"),
    ],
)
def test_bad_predictions_are_refused_before_sending(path, value, message):
    pred = copy.deepcopy(GOOD)
    target = pred
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    with pytest.raises(cfg.PredictionError, match=message):
        cfg.validate_prediction(pred, cfg.label_config())


def test_connection_from_flags_then_env_and_key_never_in_repr(monkeypatch):
    monkeypatch.setenv(cfg.ENV_URL, "http://127.0.0.1:9/")
    monkeypatch.setenv(cfg.ENV_API_KEY, "env-secret")
    conn = cfg.resolve_connection()
    assert (conn.url, conn.api_key) == ("http://127.0.0.1:9", "env-secret")
    assert "env-secret" not in repr(conn) and "env-secret" not in str(conn)
    assert cfg.resolve_connection("http://other:1", "flag-secret").api_key == "flag-secret"
    monkeypatch.delenv(cfg.ENV_API_KEY)
    with pytest.raises(cfg.ConnectionConfigError, match="LABEL_STUDIO_API_KEY"):
        cfg.resolve_connection()
    with pytest.raises(cfg.ConnectionConfigError, match="http://"):
        cfg.resolve_connection("127.0.0.1:8080", "k")
