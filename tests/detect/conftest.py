"""Fixtures shared by the detector tests."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def tiny_captioners(tmp_path_factory) -> dict:
    """{model_type: folder} with a tiny random model of each supported captioner family (built once)."""
    pytest.importorskip("transformers")
    from tests.detect.tiny_captioners import BUILDERS

    root = tmp_path_factory.mktemp("tiny-captioners")
    return {family: build(root / family) for family, build in BUILDERS.items()}
