import pytest

from miscomp.errors import MiscompError
from miscomp.registry import Registry, parse_spec


def test_parse_spec_types():
    assert parse_spec("jpeg:quality=10,subsampling=0") == ("jpeg", {"quality": 10, "subsampling": 0})
    assert parse_spec("taef2:bits=3:weights_dir=/x/y") == ("taef2", {"bits": 3, "weights_dir": "/x/y"})
    assert parse_spec("x:a=1.5,b=true,c=hi") == ("x", {"a": 1.5, "b": True, "c": "hi"})
    assert parse_spec("diff") == ("diff", {})
    with pytest.raises(MiscompError, match="key=value"):
        parse_spec("jpeg:quality")
    with pytest.raises(MiscompError, match="empty name"):
        parse_spec(":q=1")


def test_registry_register_lookup_and_meta():
    reg: Registry[object] = Registry("thing")

    @reg.register("a", cost="cheap")
    def make_a(**kw):
        """Makes an A."""
        return ("a", kw)

    assert reg.create("a", k=1) == ("a", {"k": 1})
    assert reg.get("a").meta == {"cost": "cheap"} and reg.get("a").summary == "Makes an A."
    assert "a" in reg and reg.names() == ["a"]
    with pytest.raises(MiscompError, match="unknown thing 'b'; known: a"):
        reg.get("b")
    with pytest.raises(ValueError, match="twice"):
        reg.register("a")(make_a)


def test_device_reaches_model_codecs_and_detectors_only():
    from miscomp.codecs import create_codec
    from miscomp.detect import build_detectors
    from miscomp.registry import accepts

    # Classical codecs take no device: passing one must not break them.
    assert create_codec("jpeg:quality=10", device="cuda:1").params()["quality"] == 10
    neural = create_codec("bmshj2018-factorized:q=1", device="cpu")
    assert neural.device == "cpu" and "device" not in neural.params()  # where it runs is not its tag
    # A device the spec names itself wins over the run's.
    assert create_codec("bmshj2018-factorized:q=1,device=meta", device="cpu").device == "meta"
    detectors, _ = build_detectors(["diff"], None, device="cuda")  # diff runs no model
    assert [d.name for d in detectors] == ["diff"]
    from miscomp.detect import DETECTORS

    assert accepts(DETECTORS.get("ocr").factory, "device")
    assert not accepts(DETECTORS.get("diff").factory, "device")
