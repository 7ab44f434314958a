"""miscomp.detect.diff.artefacts.codec_family: the codec registry decides for codecs miscomp runs."""

import pytest

from miscomp.codecs import CODECS, create_codec
from miscomp.detect.diff.artefacts import codec_family

CLASSICAL = ["jpeg:quality=10", "webp:quality=5", "jpeg2000:ratio=32", "avif:quality=30"]


@pytest.mark.parametrize("spec", CLASSICAL)
def test_a_classical_codec_is_its_own_format(spec):
    name = spec.split(":")[0]
    assert codec_family(spec) == name
    assert codec_family(create_codec(spec).tag) == name  # the tag a pair carries


def test_every_registered_learned_codec_is_learned():
    learned = [e.name for e in CODECS if e.meta.get("family") != "classical"]
    assert learned and all(codec_family(f"{name}-q1") == "learned" for name in learned)


def test_outputs_miscomp_did_not_make_fall_back_to_their_label():
    assert codec_family("hific_lo") == "learned" and codec_family("mozjpeg_q10") == "jpeg"
    assert codec_family("external") == ""
