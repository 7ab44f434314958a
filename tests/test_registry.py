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
