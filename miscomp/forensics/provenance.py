"""Provenance that travels with the image: a signed C2PA manifest, or an unsigned XMP packet.

What a tag says (and nothing more): the image was transcoded by ``codec`` at ``bpp``; its parent is
the original with this SHA-256 (the original's bytes are never read into the manifest, and no thumbnail
is made); miscomp analysed the pair with these detector versions and found these regions
(``org.miscomp.analysis``). Before tagging, every metadata chunk/segment of the image is dropped
(EXIF, GPS, camera serials, XMP, text chunks), so a tag cannot leak the original's metadata; with
``keep_metadata`` the image's own metadata stays and the original's EXIF is copied over.

C2PA signing needs a certificate chain (end-entity first) and its private key. The C2PA library
refuses self-signed end-entity certificates; a CA-issued one with EKU emailProtection or
documentSigning works. No timestamp authority is contacted (offline); the signature's validity then
rests on the certificate's own validity period.
"""

from __future__ import annotations

import io
import json
import xml.etree.ElementTree as ET
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from miscomp import __version__
from miscomp.errors import MiscompError, require
from miscomp.forensics import containers

ASSERTION = "org.miscomp.analysis"
# The risk map made at encoding time from the original alone (miscomp risk): which details a viewer
# should not trust. Its own assertion, so a reader that knows only the findings ignores it.
RISK_ASSERTION = "org.miscomp.risk"
XMP_NS = "https://miscomp.dev/ns/analysis/1.0/"
SCHEMA_VERSION = 1
MIME = {"png": "image/png", "jpeg": "image/jpeg"}


@dataclass(frozen=True)
class Analysis:
    """The content of a tag: one reconstruction, its original (by hash) and miscomp's findings."""

    codec: str
    codec_tag: str
    bpp: float | None
    original_name: str
    original_sha256: str
    may_contain_miscompressions: bool
    complete: bool  # False when a detector failed on this pair (status 'partial')
    detectors: list[dict[str, Any]] = field(default_factory=list)
    findings: list[dict[str, Any]] = field(default_factory=list)
    versions: dict[str, str] = field(default_factory=dict)
    # {"codec", "bpp", "model_sha256", "cell", "top_share", "regions": [{x, y, w, h, score}]} or {}
    risk: dict[str, Any] = field(default_factory=dict)
    # ``findings`` lists those scoring at least ``min_score`` (what the report shows); ``low_score``
    # counts the rest, ordinary codec artefacts by the scan's score model.
    low_score: int = 0
    min_score: float | None = None
    generator: str = f"miscomp {__version__}"
    schema: int = SCHEMA_VERSION

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Analysis:
        known = {k: d[k] for k in cls.__dataclass_fields__ if k in d}
        return cls(**known)


@dataclass(frozen=True)
class SignerFiles:
    cert_chain: Path  # PEM, end-entity certificate first, then intermediates (and optionally the CA)
    private_key: Path  # PEM (PKCS#8 or traditional), unencrypted


@dataclass(frozen=True)
class Verification:
    path: str
    kind: str  # "c2pa", "xmp" or "none"
    state: str  # C2PA: Trusted / Valid / Invalid; XMP: unsigned; none: absent
    valid: bool
    signer: str = ""
    claim: dict[str, Any] = field(default_factory=dict)
    analysis: dict[str, Any] | None = None
    failures: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    risk: dict[str, Any] | None = None  # the risk regions made at encoding time, when tagged with them

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# ---- C2PA ---------------------------------------------------------------------------------------


def _signing_alg(c2pa: Any, key_pem: bytes) -> Any:
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    try:
        key = load_pem_private_key(key_pem, password=None)
    except (ValueError, TypeError) as err:
        raise MiscompError(f"signing key: not an unencrypted PEM private key ({err})") from None
    alg = c2pa.C2paSigningAlg
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return {256: alg.ES256, 384: alg.ES384, 521: alg.ES512}[key.curve.key_size]
    if isinstance(key, rsa.RSAPrivateKey):
        return alg.PS256
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return alg.ED25519
    raise MiscompError(f"signing key: unsupported key type {type(key).__name__} (use EC, RSA or Ed25519)")


def _context(c2pa: Any, trust_anchors: str | None = None) -> Any:
    settings: dict[str, Any] = {"builder": {"thumbnail": {"enabled": False}}}
    if trust_anchors:
        settings["trust"] = {"user_anchors": trust_anchors}
    return c2pa.Context(settings=c2pa.Settings.from_dict(settings))


def sign_c2pa(image: bytes, analysis: Analysis, signer_files: SignerFiles, title: str) -> bytes:
    """``image`` (PNG or JPEG bytes) with an embedded, signed C2PA manifest."""
    c2pa = require("c2pa", "forensics")
    kind = containers.sniff(image)
    if kind not in MIME:
        raise MiscompError(f"{title}: C2PA tagging supports PNG and JPEG here")
    try:
        chain = signer_files.cert_chain.read_bytes()
        key = signer_files.private_key.read_bytes()
    except OSError as err:
        raise MiscompError(f"signing files: {err}") from None
    alg = _signing_alg(c2pa, key)
    manifest = {
        "claim_generator_info": [{"name": "miscomp", "version": __version__}],
        "title": title,
        "format": MIME[kind],
        "assertions": [
            {"label": ASSERTION, "data": {k: v for k, v in analysis.to_dict().items() if k != "risk"}}
        ],
    }
    if analysis.risk:
        manifest["assertions"].append({"label": RISK_ASSERTION, "data": analysis.risk})
    try:
        builder = c2pa.Builder(manifest, context=_context(c2pa))
        builder.set_intent(c2pa.C2paBuilderIntent.EDIT)  # EDIT: the manifest must name its parent
        params: dict[str, Any] = {"codec": analysis.codec_tag or analysis.codec}
        if analysis.bpp is not None:
            params["bpp"] = round(float(analysis.bpp), 4)
        builder.add_action(
            {"action": "c2pa.transcoded", "softwareAgent": {"name": "miscomp"}, "parameters": params}
        )
        # The parent by hash only: an empty stream, so nothing of the original (pixels, EXIF, XMP)
        # can enter the manifest.
        ingredient = {
            "title": analysis.original_name or "original",
            "relationship": "parentOf",
            "format": "application/octet-stream",
            "metadata": {"org.miscomp.sha256": analysis.original_sha256},
            "description": f"sha256:{analysis.original_sha256}",
        }
        builder.add_ingredient(ingredient, "application/octet-stream", io.BytesIO(b""))
        signer = c2pa.Signer.from_info(
            c2pa.C2paSignerInfo(alg=alg, sign_cert=chain, private_key=key, ta_url=None)
        )
        out = io.BytesIO()
        builder.sign(signer, MIME[kind], io.BytesIO(image), out)
    except c2pa.C2paError as err:
        raise MiscompError(f"{title}: C2PA signing failed: {err}") from None
    return out.getvalue()


def check_signer(signer_files: SignerFiles) -> None:
    """Sign a 1×1 PNG once, so that a certificate or key that cannot sign (self-signed end-entity,
    key not matching, unreadable file) is one error for the whole call, not one per image."""
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (1, 1)).save(buf, format="PNG")
    try:
        sign_c2pa(buf.getvalue(), Analysis("", "", None, "", "", False, True), signer_files, "check")
    except MiscompError as err:
        why = str(err).removeprefix("check: ")
        raise MiscompError(
            f"{signer_files.cert_chain}: cannot sign with this certificate and key: {why}"
        ) from None


def read_c2pa(data: bytes, path: str, trust_anchors: str | None = None) -> Verification | None:
    c2pa = require("c2pa", "forensics")
    kind = containers.sniff(data)
    try:
        reader = c2pa.Reader.try_create(
            MIME.get(kind, ""), io.BytesIO(data), context=_context(c2pa, trust_anchors)
        )
    except c2pa.C2paError as err:
        return Verification(path, "c2pa", "Invalid", False, failures=[f"manifest unreadable: {err}"])
    if reader is None:
        return None
    store = json.loads(reader.json())
    state = reader.get_validation_state() or "Invalid"
    results = (reader.get_validation_results() or {}).get("activeManifest", {})
    failures = [f"{f.get('code')}: {f.get('explanation', '')}" for f in results.get("failure", [])]
    manifest = store.get("manifests", {}).get(store.get("active_manifest", ""), {})
    analysis = next(
        (a.get("data") for a in manifest.get("assertions", []) if a.get("label") == ASSERTION), None
    )
    risk = next(
        (a.get("data") for a in manifest.get("assertions", []) if a.get("label") == RISK_ASSERTION), None
    )
    actions = next(
        (
            a["data"].get("actions", [])
            for a in manifest.get("assertions", [])
            if a.get("label", "").startswith("c2pa.actions")
        ),
        [],
    )
    sig = manifest.get("signature_info", {})
    claim = {
        "generator": manifest.get("claim_generator_info", []),
        "title": manifest.get("title", ""),
        "actions": [
            {
                "action": a.get("action"),
                "parameters": {k: v for k, v in a.get("parameters", {}).items() if k != "ingredients"},
            }
            for a in actions
        ],
        "ingredients": [
            {k: i.get(k) for k in ("title", "relationship", "metadata", "description") if k in i}
            for i in manifest.get("ingredients", [])
        ],
        "signature": {k: sig.get(k) for k in ("alg", "issuer", "common_name", "time") if sig.get(k)},
    }
    notes = []
    untrusted = [f for f in failures if f.startswith("signingCredential.untrusted")]
    if untrusted:
        notes.append(
            "the signer's certificate is not in a trust list (give --trust-anchors CA.pem to check it)"
        )
    # An untrusted signer is not tampering: C2PA itself still calls the manifest "Valid".
    hard = [f for f in failures if not f.startswith("signingCredential.untrusted")]
    valid = state in ("Valid", "Trusted") and not hard
    signer = ", ".join(x for x in (sig.get("common_name"), sig.get("issuer")) if x)
    return Verification(path, "c2pa", state, valid, signer, claim, analysis, hard, notes, risk)


# ---- XMP fallback -------------------------------------------------------------------------------


def xmp_packet(analysis: Analysis) -> str:
    """An XMP packet in the miscomp namespace; the findings are a JSON string property."""
    ET.register_namespace("x", "adobe:ns:meta/")
    ET.register_namespace("rdf", "http://www.w3.org/1999/02/22-rdf-syntax-ns#")
    ET.register_namespace("miscomp", XMP_NS)
    rdf = "{http://www.w3.org/1999/02/22-rdf-syntax-ns#}"
    root = ET.Element("{adobe:ns:meta/}xmpmeta")
    desc = ET.SubElement(ET.SubElement(root, f"{rdf}RDF"), f"{rdf}Description", {f"{rdf}about": ""})
    d = analysis.to_dict()
    for key in (
        "codec",
        "codec_tag",
        "bpp",
        "original_name",
        "original_sha256",
        "may_contain_miscompressions",
        "complete",
        "low_score",
        "min_score",
        "generator",
        "schema",
    ):
        ET.SubElement(desc, f"{{{XMP_NS}}}{key}").text = json.dumps(d[key])
    for key in ("detectors", "findings", "versions", "risk"):
        ET.SubElement(desc, f"{{{XMP_NS}}}{key}").text = json.dumps(d[key], separators=(",", ":"))
    body = ET.tostring(root, encoding="unicode")
    return f'<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>{body}<?xpacket end="w"?>'


def parse_xmp(packet: str) -> Analysis | None:
    """The analysis in a miscomp XMP packet, or None when the packet has none. Untrusted input:
    ElementTree does not resolve external entities, and every value is parsed as JSON."""
    start, end = packet.find("<x:xmpmeta"), packet.rfind("</x:xmpmeta>")
    if start < 0 or end < 0:
        return None
    try:
        root = ET.fromstring(packet[start : end + len("</x:xmpmeta>")])
    except ET.ParseError:
        return None
    values = {el.tag.split("}", 1)[1]: el.text for el in root.iter() if el.tag.startswith(f"{{{XMP_NS}}}")}
    if not values:
        return None
    try:
        return Analysis.from_dict({k: json.loads(v or "null") for k, v in values.items()})
    except (ValueError, TypeError):
        return None


# ---- both ---------------------------------------------------------------------------------------


def tag_bytes(
    image: bytes,
    analysis: Analysis,
    title: str,
    signer: SignerFiles | None,
    keep_metadata: bool = False,
    original_exif: bytes | None = None,
) -> tuple[bytes, str]:
    """The tagged image and the kind of tag written ("c2pa" with a signer, else "xmp")."""
    if containers.sniff(image) not in MIME:
        raise MiscompError(f"{title}: only PNG and JPEG images can be tagged")
    data = image if keep_metadata else containers.strip_metadata(image)
    if keep_metadata and original_exif and not containers.has_exif(data):
        data = containers.add_exif(data, original_exif)
    if signer is not None:
        return sign_c2pa(data, analysis, signer, title), "c2pa"
    return containers.set_xmp(data, xmp_packet(analysis)), "xmp"


def verify_bytes(data: bytes, path: str, trust_anchors: str | None = None) -> Verification:
    if containers.sniff(data) not in MIME:
        raise MiscompError(f"{path}: not a PNG or JPEG image")
    found = read_c2pa(data, path, trust_anchors)
    if found is not None:
        return found
    packet = containers.get_xmp(data)
    analysis = parse_xmp(packet) if packet else None
    if analysis is not None:
        return Verification(
            path,
            "xmp",
            "unsigned",
            True,
            analysis={k: v for k, v in analysis.to_dict().items() if k != "risk"},
            notes=["unsigned XMP tag: anyone can strip or edit it; it proves nothing"],
            risk=analysis.risk or None,
        )
    return Verification(path, "none", "absent", False, notes=["no C2PA manifest and no miscomp XMP packet"])


def verify(path: Path, trust_anchors: Path | None = None) -> Verification:
    try:
        data = path.read_bytes()
        anchors = trust_anchors.read_text() if trust_anchors else None
    except OSError as err:
        raise MiscompError(f"{err.filename}: {err.strerror}") from None
    return verify_bytes(data, str(path), anchors)
