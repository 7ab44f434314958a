"""Fixtures for the forensic tests: a throwaway CA and signer (C2PA refuses self-signed end-entity
certificates), and a small scan run with one real finding."""

from __future__ import annotations

import datetime
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from miscomp.run import ScanConfig, run_scan
from testing.shapes import ramp


def _name(cn: str):  # noqa: ANN202
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    return x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "miscomp tests"),
        ]
    )


def _usage(sign: bool):  # noqa: ANN202
    from cryptography import x509

    return x509.KeyUsage(
        digital_signature=not sign,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=sign,
        crl_sign=sign,
        encipher_only=False,
        decipher_only=False,
    )


@pytest.fixture(scope="session")
def signer_files(tmp_path_factory) -> dict[str, Path]:
    """CA certificate, end-entity chain (EKU emailProtection) and key as PEM files."""
    pytest.importorskip("c2pa", reason="c2pa-python not installed: pip install 'miscomp[forensics]'")
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID

    folder = tmp_path_factory.mktemp("pki")
    now = datetime.datetime.now(datetime.UTC)
    ca_key, ee_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())

    def builder(subject, issuer, key):  # noqa: ANN001, ANN202
        return (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(issuer)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=30))
        )

    ca = (
        builder(_name("miscomp test CA"), _name("miscomp test CA"), ca_key)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(_usage(True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    ee = (
        builder(_name("miscomp test signer"), ca.subject, ee_key)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_usage(False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    files = {"ca": folder / "ca.pem", "chain": folder / "chain.pem", "key": folder / "key.pem"}
    files["ca"].write_bytes(ca.public_bytes(pem))
    files["chain"].write_bytes(ee.public_bytes(pem) + ca.public_bytes(pem))
    files["key"].write_bytes(
        ee_key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return files


def make_gps_exif() -> bytes:
    """EXIF with a GPS position and a camera serial number: what a tag must not leak."""
    exif = Image.Exif()
    exif[0x010F] = "TestCam"  # Make
    exif[0xA431] = "SERIAL-123456"  # BodySerialNumber (Exif IFD tag, stored here in IFD0 for brevity)
    gps = exif.get_ifd(0x8825)
    gps[1], gps[2] = "N", (52.0, 31.0, 12.0)
    gps[3], gps[4] = "E", (13.0, 24.0, 36.0)
    return exif.tobytes()


@pytest.fixture(scope="session")
def gps_exif() -> bytes:
    return make_gps_exif()


@pytest.fixture(scope="session")
def run_with_finding(tmp_path_factory) -> Path:
    """A scan of one JPEG original (with GPS EXIF) against an external 'codec' output whose red square
    turned blue: the diff detector finds it, so the run has a real finding to tag."""
    root = tmp_path_factory.mktemp("run")
    img = ramp(128, 160, seed=5)
    img[30:70, 40:90] = [200, 40, 40]
    (root / "orig").mkdir()
    Image.fromarray(img).save(root / "orig" / "photo.jpg", quality=95, exif=make_gps_exif())
    decoded = np.asarray(Image.open(root / "orig" / "photo.jpg").convert("RGB")).copy()
    rec = decoded.copy()
    rec[30:70, 40:90] = [40, 40, 200]
    (root / "rec").mkdir()
    Image.fromarray(rec).save(root / "rec" / "photo.png")
    cfg = ScanConfig(
        out=root / "run",
        originals=root / "orig",
        reconstructions=root / "rec",
        label="testcodec",
        detectors=("diff",),
        quiet=True,
        report=False,
    )
    run_scan(cfg)
    return root / "run"
