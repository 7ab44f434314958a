"""Byte-level surgery on PNG and JPEG containers: drop metadata, add an XMP packet or EXIF, read XMP.

Working on chunks/segments instead of decoding and re-encoding keeps the pixels (and the JPEG's DCT
coefficients) bit-identical: tagging must never change the image it describes.
"""

from __future__ import annotations

import struct
import zlib

from miscomp.errors import MiscompError

PNG_SIG = b"\x89PNG\r\n\x1a\n"
# Chunks that describe how to show the pixels; everything else (tEXt/zTXt/iTXt, eXIf, tIME, caBX
# manifests, private chunks) is metadata and is dropped unless the user keeps it.
_PNG_KEEP = {
    b"IHDR",
    b"PLTE",
    b"IDAT",
    b"IEND",
    b"tRNS",
    b"gAMA",
    b"cHRM",
    b"sRGB",
    b"iCCP",
    b"sBIT",
    b"pHYs",
    b"acTL",
    b"fcTL",
    b"fdAT",
    b"cICP",
}
_XMP_KEYWORD = b"XML:com.adobe.xmp"
_JPEG_XMP = b"http://ns.adobe.com/xap/1.0/\x00"
# APP0 (JFIF), APP2 (ICC profile, needed for colours) and APP14 (Adobe colour transform) describe the
# pixels; APP1 (EXIF/XMP), APP3-13, APP11 (JUMBF/C2PA), APP15 and COM are metadata.
_JPEG_KEEP_APP = {0xE0, 0xE2, 0xEE}


def sniff(data: bytes) -> str:
    if data.startswith(PNG_SIG):
        return "png"
    if data.startswith(b"\xff\xd8"):
        return "jpeg"
    return ""


# ---- PNG ---------------------------------------------------------------------------------------


def png_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    if not data.startswith(PNG_SIG):
        raise MiscompError("not a PNG file")
    out, pos = [], len(PNG_SIG)
    while pos + 8 <= len(data):
        (n,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        if pos + 12 + n > len(data):
            raise MiscompError("truncated PNG chunk")
        out.append((kind, data[pos + 8 : pos + 8 + n]))
        pos += 12 + n
        if kind == b"IEND":
            break
    return out


def png_build(chunks: list[tuple[bytes, bytes]]) -> bytes:
    parts = [PNG_SIG]
    for kind, body in chunks:
        parts.append(struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body)))
    return b"".join(parts)


def _png_insert_before_idat(chunks: list[tuple[bytes, bytes]], new: tuple[bytes, bytes]) -> list:
    i = next(i for i, (k, _) in enumerate(chunks) if k == b"IDAT")
    return chunks[:i] + [new] + chunks[i:]


# ---- JPEG --------------------------------------------------------------------------------------


def jpeg_segments(data: bytes) -> tuple[list[tuple[int, bytes]], bytes]:
    """(marker, payload) of every segment before the first scan, and the rest (SOS onwards) verbatim."""
    if not data.startswith(b"\xff\xd8"):
        raise MiscompError("not a JPEG file")
    segs, pos = [], 2
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            raise MiscompError("corrupt JPEG marker")
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker == 0xDA:  # start of scan: entropy-coded data follows, copied as is
            return segs, data[pos:]
        (n,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        segs.append((marker, data[pos + 4 : pos + 2 + n]))
        pos += 2 + n
    raise MiscompError("JPEG without image data (no SOS marker)")


def jpeg_build(segs: list[tuple[int, bytes]], rest: bytes) -> bytes:
    parts = [b"\xff\xd8"]
    for marker, body in segs:
        if len(body) + 2 > 0xFFFF:
            raise MiscompError("JPEG segment too large (XMP packet over 64 KB: too many findings for XMP)")
        parts.append(bytes([0xFF, marker]) + struct.pack(">H", len(body) + 2) + body)
    return b"".join(parts) + rest


def _jpeg_insert(segs: list[tuple[int, bytes]], new: tuple[int, bytes]) -> list:
    # after JFIF/APP0 if present, so readers that expect JFIF first still find it
    i = 1 if segs and segs[0][0] == 0xE0 else 0
    return segs[:i] + [new] + segs[i:]


# ---- operations --------------------------------------------------------------------------------


def strip_metadata(data: bytes) -> bytes:
    """The same image with every metadata chunk/segment removed (pixels untouched)."""
    kind = sniff(data)
    if kind == "png":
        return png_build([(k, b) for k, b in png_chunks(data) if k in _PNG_KEEP])
    if kind == "jpeg":
        segs, rest = jpeg_segments(data)
        keep = [(m, b) for m, b in segs if not (0xE0 <= m <= 0xEF or m == 0xFE) or m in _JPEG_KEEP_APP]
        return jpeg_build(keep, rest)
    raise MiscompError("metadata stripping supports PNG and JPEG only")


def add_exif(data: bytes, exif: bytes) -> bytes:
    """Add an EXIF block (TIFF bytes, with or without the 'Exif\\0\\0' header) to a PNG or JPEG."""
    tiff = exif[6:] if exif.startswith(b"Exif\x00\x00") else exif
    kind = sniff(data)
    if kind == "png":
        chunks = [(k, b) for k, b in png_chunks(data) if k != b"eXIf"]
        return png_build(_png_insert_before_idat(chunks, (b"eXIf", tiff)))
    if kind == "jpeg":
        segs, rest = jpeg_segments(data)
        segs = [(m, b) for m, b in segs if not (m == 0xE1 and b.startswith(b"Exif\x00\x00"))]
        return jpeg_build(_jpeg_insert(segs, (0xE1, b"Exif\x00\x00" + tiff)), rest)
    raise MiscompError("EXIF can be added to PNG and JPEG only")


def set_xmp(data: bytes, packet: str) -> bytes:
    """Replace the file's XMP packet with ``packet`` (PNG iTXt or JPEG APP1)."""
    raw = packet.encode("utf-8")
    kind = sniff(data)
    if kind == "png":
        chunks = [
            (k, b) for k, b in png_chunks(data) if not (k == b"iTXt" and b.startswith(_XMP_KEYWORD + b"\0"))
        ]
        # iTXt: keyword \0 compression-flag compression-method language \0 translated-keyword \0 text
        body = _XMP_KEYWORD + b"\x00\x00\x00\x00\x00" + raw
        return png_build(_png_insert_before_idat(chunks, (b"iTXt", body)))
    if kind == "jpeg":
        segs, rest = jpeg_segments(data)
        segs = [(m, b) for m, b in segs if not (m == 0xE1 and b.startswith(_JPEG_XMP))]
        return jpeg_build(_jpeg_insert(segs, (0xE1, _JPEG_XMP + raw)), rest)
    raise MiscompError("the XMP fallback supports PNG and JPEG only")


def get_xmp(data: bytes) -> str | None:
    kind = sniff(data)
    if kind == "png":
        for k, b in png_chunks(data):
            if k == b"iTXt" and b.startswith(_XMP_KEYWORD + b"\0"):
                rest = b[len(_XMP_KEYWORD) + 1 :]
                compressed, rest = rest[0], rest[2:]
                _lang, _, rest = rest.partition(b"\0")
                _tkey, _, text = rest.partition(b"\0")
                return (zlib.decompress(text) if compressed else text).decode("utf-8", "replace")
        return None
    if kind == "jpeg":
        segs, _ = jpeg_segments(data)
        for m, b in segs:
            if m == 0xE1 and b.startswith(_JPEG_XMP):
                return b[len(_JPEG_XMP) :].decode("utf-8", "replace")
    return None


def has_exif(data: bytes) -> bool:
    kind = sniff(data)
    if kind == "png":
        return any(k == b"eXIf" for k, _ in png_chunks(data))
    if kind == "jpeg":
        return any(m == 0xE1 and b.startswith(b"Exif\x00\x00") for m, b in jpeg_segments(data)[0])
    return False
