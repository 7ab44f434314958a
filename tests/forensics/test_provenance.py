import io
import json

import numpy as np
import pytest
from PIL import Image

from miscomp.errors import MiscompError
from miscomp.forensics import containers
from miscomp.forensics.provenance import (
    ASSERTION,
    Analysis,
    SignerFiles,
    parse_xmp,
    tag_bytes,
    verify_bytes,
    xmp_packet,
)


def _png(gps_exif: bytes, seed: int = 0) -> tuple[np.ndarray, bytes]:
    rgb = (np.random.default_rng(seed).random((48, 64, 3)) * 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="PNG", exif=gps_exif)
    return rgb, buf.getvalue()


ANALYSIS = Analysis(
    codec="taef2",
    codec_tag="taef2-bits3",
    bpp=0.4123,
    original_name="plate.jpg",
    original_sha256="ab" * 32,
    may_contain_miscompressions=True,
    complete=True,
    detectors=[{"name": "ocr"}],
    findings=[
        {
            "finding_id": "f1",
            "detector": "ocr",
            "category": "shape",
            "symbol": True,
            "score": 0.9,
            "evidence": "OCR 'B3' → 'B8'",
            "box": {"x": 10, "y": 12, "w": 20, "h": 8},
        }
    ],
    versions={"miscomp": "0.1.0"},
)


def _replace_idat(signed: bytes, rgb: np.ndarray) -> bytes:
    """The signed file with only its pixel data swapped (the manifest chunk stays in place)."""
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="PNG")
    new_idat = [c for c in containers.png_chunks(buf.getvalue()) if c[0] == b"IDAT"]
    out, done = [], False
    for kind, body in containers.png_chunks(signed):
        if kind == b"IDAT":
            if not done:
                out += new_idat
                done = True
        else:
            out.append((kind, body))
    return containers.png_build(out)


def test_c2pa_tag_verifies_with_miscomp_and_with_c2pa_reader(signer_files, gps_exif):
    import c2pa

    rgb, png = _png(gps_exif)
    signer = SignerFiles(signer_files["chain"], signer_files["key"])
    signed, kind = tag_bytes(png, ANALYSIS, "rec.png", signer)
    assert kind == "c2pa"
    # pixels untouched, metadata (GPS EXIF) gone
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(signed)).convert("RGB")), rgb)
    assert not containers.has_exif(signed)

    v = verify_bytes(signed, "rec.png")
    assert v.kind == "c2pa" and v.valid and v.state == "Valid" and not v.failures
    assert v.analysis["findings"][0]["box"] == {"x": 10, "y": 12, "w": 20, "h": 8}
    assert v.analysis["may_contain_miscompressions"] is True
    assert v.claim["actions"][-1] == {
        "action": "c2pa.transcoded",
        "parameters": {"codec": "taef2-bits3", "bpp": 0.4123},
    }
    assert v.claim["ingredients"][0]["relationship"] == "parentOf"
    assert v.claim["ingredients"][0]["metadata"]["org.miscomp.sha256"] == "ab" * 32
    assert "untrusted" not in " ".join(v.failures) and v.notes  # untrusted signer is a note, not a failure

    # c2pa-python's own reader agrees, and with our CA as trust anchor the signer is trusted
    reader = c2pa.Reader("image/png", io.BytesIO(signed))
    assert reader.get_validation_state() == "Valid"
    store = json.loads(reader.json())
    labels = [a["label"] for a in store["manifests"][store["active_manifest"]]["assertions"]]
    assert ASSERTION in labels
    trusted = verify_bytes(signed, "rec.png", signer_files["ca"].read_text())
    assert trusted.state == "Trusted" and trusted.valid and not trusted.notes


def test_tampered_pixels_fail_validation(signer_files, gps_exif):
    import c2pa

    rgb, png = _png(gps_exif)
    signed, _ = tag_bytes(png, ANALYSIS, "rec.png", SignerFiles(signer_files["chain"], signer_files["key"]))
    tampered_rgb = rgb.copy()
    tampered_rgb[5:9, 5:9] = 255 - tampered_rgb[5:9, 5:9]  # 16 pixels changed
    tampered = _replace_idat(signed, tampered_rgb)
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(tampered)).convert("RGB")), tampered_rgb)

    v = verify_bytes(tampered, "rec.png")
    assert v.kind == "c2pa" and not v.valid and v.state == "Invalid"
    assert any(f.startswith("assertion.dataHash.mismatch") for f in v.failures)
    assert c2pa.Reader("image/png", io.BytesIO(tampered)).get_validation_state() == "Invalid"


def test_a_chain_that_does_not_match_the_key_fails_with_one_line(signer_files, gps_exif, tmp_path):
    _rgb, png = _png(gps_exif)
    # the CA's certificate with the end-entity key: the chain does not match the key
    with pytest.raises(MiscompError, match="C2PA signing failed"):
        tag_bytes(png, ANALYSIS, "rec.png", SignerFiles(signer_files["ca"], signer_files["key"]))


def test_jpeg_is_tagged_without_touching_its_scan_data(signer_files, gps_exif):
    rgb = (np.random.default_rng(3).random((40, 56, 3)) * 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="JPEG", quality=60, exif=gps_exif)
    jpeg = buf.getvalue()
    signed, _ = tag_bytes(jpeg, ANALYSIS, "rec.jpg", SignerFiles(signer_files["chain"], signer_files["key"]))
    assert containers.jpeg_segments(signed)[1] == containers.jpeg_segments(jpeg)[1]  # same entropy-coded data
    assert not containers.has_exif(signed)
    assert verify_bytes(signed, "rec.jpg").valid


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_xmp_fallback_round_trips(fmt, gps_exif):
    rgb = (np.random.default_rng(4).random((40, 56, 3)) * 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format=fmt, exif=gps_exif)
    tagged, kind = tag_bytes(buf.getvalue(), ANALYSIS, "rec", signer=None)
    assert kind == "xmp" and not containers.has_exif(tagged)
    v = verify_bytes(tagged, "rec")
    assert v.kind == "xmp" and v.state == "unsigned" and v.valid
    assert Analysis.from_dict(v.analysis) == ANALYSIS
    # Pillow reads the packet as ordinary XMP (other tools will see it too)
    assert "miscomp" in str(Image.open(io.BytesIO(tagged)).info.get("xmp", b""))
    # and stripping removes it, as documented
    assert verify_bytes(containers.strip_metadata(tagged), "rec").kind == "none"


def test_xmp_parser_rejects_foreign_and_broken_packets():
    assert parse_xmp("<x:xmpmeta xmlns:x='adobe:ns:meta/'></x:xmpmeta>") is None
    assert parse_xmp("<x:xmpmeta><broken") is None
    assert parse_xmp(xmp_packet(ANALYSIS)) == ANALYSIS


def test_verify_untagged_and_non_images(gps_exif):
    _rgb, png = _png(gps_exif)
    assert verify_bytes(containers.strip_metadata(png), "a.png").kind == "none"
    with pytest.raises(MiscompError, match="not a PNG or JPEG"):
        verify_bytes(b"GIF89a....", "a.gif")


RISK = {
    "codec": "taef2",
    "bpp": 0.41,
    "model_sha256": "cd" * 32,
    "cell": 16,
    "top_share": 0.05,
    "regions": [{"x": 16, "y": 0, "w": 32, "h": 16, "score": 0.8}],
}


def test_risk_regions_travel_as_their_own_c2pa_assertion(signer_files, gps_exif):
    import dataclasses

    import c2pa

    from miscomp.forensics.provenance import RISK_ASSERTION

    _, png = _png(gps_exif)
    signer = SignerFiles(signer_files["chain"], signer_files["key"])
    signed, _ = tag_bytes(png, dataclasses.replace(ANALYSIS, risk=RISK), "rec.png", signer)
    # c2pa-python's own reader sees the risk assertion beside the findings
    store = json.loads(c2pa.Reader("image/png", io.BytesIO(signed)).json())
    assertions = {
        a["label"]: a.get("data") for a in store["manifests"][store["active_manifest"]]["assertions"]
    }
    assert assertions[RISK_ASSERTION]["regions"][0] == {"x": 16, "y": 0, "w": 32, "h": 16, "score": 0.8}
    assert "risk" not in assertions[ASSERTION]
    v = verify_bytes(signed, "rec.png")
    assert v.valid and v.risk["codec"] == "taef2" and v.risk["regions"][0]["score"] == 0.8
    # without risk regions there is no risk assertion
    plain, _ = tag_bytes(png, ANALYSIS, "rec.png", signer)
    assert verify_bytes(plain, "rec.png").risk is None


def test_risk_regions_in_the_xmp_fallback(gps_exif):
    import dataclasses

    _, png = _png(gps_exif)
    tagged, kind = tag_bytes(png, dataclasses.replace(ANALYSIS, risk=RISK), "rec.png", None)
    v = verify_bytes(tagged, "rec.png")
    assert kind == "xmp" and v.risk == RISK
