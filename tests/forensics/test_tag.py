import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from miscomp.cli import app
from miscomp.forensics import containers
from miscomp.store import load_run

runner = CliRunner()


def _invoke(*args: str):  # noqa: ANN202
    return runner.invoke(app, [str(a) for a in args])


def test_run_reconstructions_are_tagged_and_verify(run_with_finding, signer_files, tmp_path):
    import c2pa

    run = load_run(run_with_finding)
    pairs, findings = run.pairs, run.findings
    assert len(findings) >= 1  # the fixture's changed square
    out = tmp_path / "tagged"
    res = _invoke(
        "tag",
        run_with_finding,
        "--out",
        out,
        "--cert",
        signer_files["chain"],
        "--key",
        signer_files["key"],
        "--min-score",
        "0",  # every finding of the run, whatever its score
        "--json",
    )
    assert res.exit_code == 0, res.output
    (result,) = json.loads(res.stdout)
    assert result["kind"] == "c2pa" and result["findings"] == len(findings) and result["low_score"] == 0
    tagged = out / pairs.loc[0, "codec_tag"] / Path(pairs.loc[0, "reconstruction"]).name
    # pixels are the run's reconstruction, bit for bit
    rec = np.asarray(Image.open(run_with_finding / pairs.loc[0, "reconstruction"]).convert("RGB"))
    assert np.array_equal(np.asarray(Image.open(tagged).convert("RGB")), rec)

    res = _invoke("verify", tagged, "--json")
    assert res.exit_code == 0, res.output
    v = json.loads(res.stdout)
    assert v["valid"] and v["analysis"]["may_contain_miscompressions"] is True
    assert v["analysis"]["original_sha256"] == pairs.loc[0, "original_sha256"]
    boxes = {(f["box"]["x"], f["box"]["y"], f["box"]["w"], f["box"]["h"]) for f in v["analysis"]["findings"]}
    assert boxes == {tuple(int(r[k]) for k in "xywh") for _, r in findings.iterrows()}
    assert {f["category"] for f in v["analysis"]["findings"]} <= {"amplitude", "geometry", "shape"}
    assert "diff" in {d["name"] for d in v["analysis"]["detectors"]}
    assert c2pa.Reader(str(tagged)).get_validation_state() == "Valid"

    human = _invoke("verify", tagged, "--trust-anchors", signer_files["ca"])
    assert human.exit_code == 0 and "Trusted" in human.stdout and "transcoded" in human.stdout

    # the pixels changed after tagging: verify fails with exit 1
    data = tagged.read_bytes()
    chunks = containers.png_chunks(data)
    idat = next(i for i, (k, _) in enumerate(chunks) if k == b"IDAT")
    import zlib

    raw = bytearray(zlib.decompress(chunks[idat][1]))
    raw[200] ^= 0x40
    chunks[idat] = (b"IDAT", zlib.compress(bytes(raw)))
    tagged.write_bytes(containers.png_build(chunks))
    res = _invoke("verify", tagged)
    assert res.exit_code == 1
    assert "dataHash.mismatch" in res.stdout


def test_no_gps_copied_unless_asked(run_with_finding, tmp_path):
    pairs = load_run(run_with_finding).pairs
    assert "GPS" in pairs.loc[0, "original_metadata"] or Image.open(
        pairs.loc[0, "original"]
    ).getexif().get_ifd(0x8825)
    res = _invoke("tag", run_with_finding, "--out", tmp_path / "a")
    assert res.exit_code == 0, res.output
    plain = next((tmp_path / "a").rglob("*.png"))
    assert not containers.has_exif(plain.read_bytes())
    assert b"SERIAL-123456" not in plain.read_bytes() and b"TestCam" not in plain.read_bytes()
    assert _invoke("verify", plain).exit_code == 0  # unsigned XMP: readable, marked unsigned

    res = _invoke("tag", run_with_finding, "--out", tmp_path / "b", "--keep-metadata")
    assert res.exit_code == 0, res.output
    kept = Image.open(next((tmp_path / "b").rglob("*.png")))
    assert kept.getexif().get_ifd(0x8825)  # the original's GPS, because the user asked


def test_explicit_image_files_are_matched_by_stem(run_with_finding, tmp_path):
    pairs = load_run(run_with_finding).pairs
    rec = run_with_finding / pairs.loc[0, "reconstruction"]
    (tmp_path / "in").mkdir()
    by_original_name = tmp_path / "in" / "photo.png"  # the original was photo.jpg
    by_original_name.write_bytes(rec.read_bytes())
    other = tmp_path / "in" / "unknown.png"
    other.write_bytes(rec.read_bytes())
    res = _invoke("tag", run_with_finding, rec, by_original_name, other, "--out", tmp_path / "t", "--json")
    assert res.exit_code == 2  # one file failed; the others were still tagged
    results = json.loads(res.stdout)
    assert [r["kind"] for r in results] == ["xmp", "xmp", "error"]
    assert "no pair in the run" in results[2]["message"]


@pytest.mark.parametrize("make", ["missing", "not_a_run"])
def test_bad_run_dir_is_one_line(tmp_path, make):
    target = tmp_path / "x"
    if make == "not_a_run":
        target.mkdir()
    res = _invoke("tag", target)
    assert res.exit_code == 2
    assert "not a run directory" in res.output and "Traceback" not in res.output


def test_verify_exit_codes(tmp_path):
    plain = tmp_path / "plain.png"
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(plain)
    res = _invoke("verify", plain)
    assert res.exit_code == 3
    assert "not tagged" in res.output and "absent" not in res.output
    assert _invoke("verify", tmp_path / "nope.png").exit_code == 2


def test_tag_with_risk_regions_and_verify_shows_them(
    run_with_finding, signer_files, textured_image, tmp_path
):
    from testing.runs import write_run

    original = tmp_path / "o.png"
    Image.fromarray(textured_image).save(original)
    run = tmp_path / "jpeg-run"
    write_run(run, [original], codecs=("jpeg:quality=10",), error=False, external=False)
    out = tmp_path / "risk-tagged"
    signing = ("--cert", signer_files["chain"], "--key", signer_files["key"])
    res = _invoke("tag", run, "--out", out, *signing, "--risk", "--json")
    assert res.exit_code == 0, res.output
    (result,) = json.loads(res.stdout)
    res = _invoke("verify", result["output"], "--json")
    v = json.loads(res.stdout)
    assert v["risk"]["regions"] and v["risk"]["cell"] == 16 and len(v["risk"]["model_sha256"]) == 64
    assert v["risk"]["codec"] == "jpeg" and v["risk"]["bpp"] > 0
    human = _invoke("verify", result["output"])
    assert "risk at encoding time" in human.stdout
    # a pair without a rate (an external codec without --bitstreams) cannot have a risk map: one line
    res = _invoke("tag", run_with_finding, "--out", tmp_path / "x", *signing, "--risk")
    assert res.exit_code == 2 and "no rate (bpp) recorded" in res.output and "Traceback" not in res.output


def test_a_self_signed_certificate_is_one_error_for_the_call(run_with_finding, tmp_path):
    """C2PA refuses a self-signed end-entity certificate: said once, naming the certificate, not once
    per image with the file name twice."""
    pytest.importorskip("c2pa")
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "self signed")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(1).not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=9)).sign(key, hashes.SHA256())
    )  # fmt: skip
    pem = serialization.Encoding.PEM
    (tmp_path / "cert.pem").write_bytes(cert.public_bytes(pem))
    (tmp_path / "key.pem").write_bytes(
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    rec = run_with_finding / load_run(run_with_finding).pairs.loc[0, "reconstruction"]
    res = _invoke("tag", run_with_finding, rec, rec, "--cert", tmp_path / "cert.pem", "--key",
                  tmp_path / "key.pem", "--out", tmp_path / "t")  # fmt: skip
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    assert res.exit_code == 2 and len(lines) == 1, res.output
    assert "cert.pem" in lines[0] and lines[0].count(rec.name) == 0 and "Traceback" not in res.output
    assert not (tmp_path / "t").exists()  # nothing half-tagged


def test_tags_list_the_findings_the_report_shows(run_with_finding, tmp_path):
    """One definition of a finding: the tag lists those at or above the scan's min score (what the
    report shows) and counts the rest as low-score; "may contain miscompressions" follows the list."""
    from miscomp.findings import run_min_score, split_by_score

    run = load_run(run_with_finding)
    shown, low = split_by_score(run.findings, run_min_score(run.meta))
    res = _invoke("tag", run_with_finding, "--out", tmp_path / "t", "--json")
    (result,) = json.loads(res.stdout)
    assert (result["findings"], result["low_score"]) == (len(shown), len(low))
    v = json.loads(_invoke("verify", result["output"], "--json").stdout)["analysis"]
    assert len(v["findings"]) == len(shown) and v["low_score"] == len(low)
    assert v["may_contain_miscompressions"] is (len(shown) > 0)
    text = _invoke("tag", run_with_finding, "--out", tmp_path / "t2").output
    assert f"({len(shown)} findings, {len(low)} low-score)" in text
