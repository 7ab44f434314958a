import hashlib
import io

import numpy as np
import pytest
from PIL import Image

from miscomp.errors import ImageError
from miscomp.io import (
    atomic_path,
    atomic_write_bytes,
    atomic_write_text,
    file_sha256,
    pixels_of,
    read_image,
    sha256_bytes,
)


def _save(path, im, **kw):
    im.save(path, **kw)
    return path


def test_rgb_png_round_trip(tmp_path, textured_image):
    path = _save(tmp_path / "a.png", Image.fromarray(textured_image))
    loaded = read_image(path)
    assert loaded.rgb.dtype == np.uint8 and loaded.rgb.shape == textured_image.shape
    np.testing.assert_array_equal(loaded.rgb, textured_image)
    assert len(loaded.sha256) == 64 and loaded.notes == ()


@pytest.mark.parametrize(
    ("make", "problem"),
    [
        (lambda p: p.write_bytes(b""), "empty file"),
        (lambda p: p.write_bytes(b"this is not an image at all"), "not a recognised image"),
    ],
)
def test_unreadable_files_name_file_and_problem(tmp_path, make, problem):
    path = tmp_path / "bad.png"
    make(path)
    with pytest.raises(ImageError) as info:
        read_image(path)
    assert str(path) in str(info.value) and problem in str(info.value)


def test_truncated_jpeg_is_a_clear_error(tmp_path, textured_image):
    buf = io.BytesIO()
    Image.fromarray(textured_image).save(buf, format="JPEG", quality=90)
    path = tmp_path / "cut.jpg"
    path.write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    with pytest.raises(ImageError, match="truncated or corrupt"):
        read_image(path)


def test_corrupt_png_body_is_a_clear_error(tmp_path, textured_image):
    path = _save(tmp_path / "c.png", Image.fromarray(textured_image))
    data = bytearray(path.read_bytes())
    data[200:260] = b"\x00" * 60  # damage compressed data but keep the header
    path.write_bytes(bytes(data))
    with pytest.raises(ImageError, match="c.png"):
        read_image(path)


def test_sixteen_bit_refused_unless_converted(tmp_path):
    arr = (np.arange(64 * 64, dtype=np.uint32).reshape(64, 64) * 16).astype(np.uint16)
    path = _save(tmp_path / "g16.png", Image.fromarray(arr))
    with pytest.raises(ImageError, match="16-bit"):
        read_image(path)
    loaded = read_image(path, convert=True)
    assert loaded.rgb.shape == (64, 64, 3)
    assert loaded.rgb[-1, -1, 0] == (int(arr[-1, -1]) >> 8)
    assert any("8 bits" in n for n in loaded.notes)


def test_cmyk_refused_unless_converted(tmp_path, textured_image):
    path = _save(tmp_path / "k.jpg", Image.fromarray(textured_image).convert("CMYK"), quality=95)
    with pytest.raises(ImageError, match="CMYK"):
        read_image(path)
    assert read_image(path, convert=True).rgb.shape == textured_image.shape


def test_palette_grayscale_alpha_are_converted_losslessly(tmp_path, textured_image):
    pal = Image.fromarray(textured_image).quantize(16)
    p = read_image(_save(tmp_path / "p.png", pal))
    np.testing.assert_array_equal(p.rgb, np.asarray(pal.convert("RGB")))
    gray = Image.fromarray(textured_image[..., 0])
    g = read_image(_save(tmp_path / "g.png", gray))
    assert (g.rgb[..., 0] == g.rgb[..., 2]).all()
    rgba = np.dstack([textured_image, np.full(textured_image.shape[:2], 255, np.uint8)])
    rgba[:10, :10, 3] = 0
    a = read_image(_save(tmp_path / "a.png", Image.fromarray(rgba)))
    assert (a.rgb[:10, :10] == 255).all() and "composited alpha over white" in a.notes


def test_exif_orientation_applied_and_metadata_kept(tmp_path, textured_image):
    im = Image.fromarray(textured_image)  # 128 high × 192 wide
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise on display
    exif[0x010F] = "TestCam"
    path = _save(tmp_path / "o.jpg", im, exif=exif.tobytes(), quality=95)
    loaded = read_image(path)
    assert loaded.rgb.shape[:2] == (192, 128)
    assert loaded.metadata["exif"]["Make"] == "TestCam"
    assert "TestCam" in loaded.metadata_json()


def test_huge_image_refused_by_pixel_limit(tmp_path, textured_image):
    path = _save(tmp_path / "big.png", Image.fromarray(textured_image))
    with pytest.raises(ImageError, match="exceeds the limit"):
        read_image(path, max_pixels=1000)


def test_missing_file(tmp_path):
    with pytest.raises(ImageError, match="does not exist"):
        read_image(tmp_path / "nope.png")


@pytest.mark.parametrize("suffix", [".png", ".tif"])
def test_sixteen_bit_rgb_refused_unless_converted(tmp_path, suffix):
    import cv2

    arr = (np.random.default_rng(0).random((16, 16, 3)) * 65535).astype(np.uint16)
    path = tmp_path / f"rgb48{suffix}"
    cv2.imwrite(str(path), arr)
    with pytest.raises(ImageError, match="16-bit RGB"):
        read_image(path)
    assert read_image(path, convert=True).rgb.shape == (16, 16, 3)


def test_atomic_path_replaces_whole_or_keeps_old(tmp_path):
    target = tmp_path / "sub" / "table.csv"
    atomic_write_text(target, "old\n")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half a new fi")
        raise RuntimeError("killed mid-write")
    assert target.read_text() == "old\n"  # the failed write left the old file as it was
    atomic_write_bytes(target, b"new\n")
    assert target.read_bytes() == b"new\n"
    assert [p.name for p in target.parent.iterdir()] == ["table.csv"]  # no temporaries left


def test_one_file_hash(tmp_path):
    path = tmp_path / "a.bin"
    path.write_bytes(b"abc")
    assert file_sha256(path) == sha256_bytes(b"abc") == hashlib.sha256(b"abc").hexdigest()


def test_a_photo_over_pillows_warning_size_is_read_when_max_pixels_allows_it(tmp_path, monkeypatch):
    # Pillow warns (and miscomp refused) above Image.MAX_IMAGE_PIXELS (89 MP) whatever --max-pixels
    # said, so no 100 MP photo could be scanned; here that size is lowered to a small image's
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100 * 100)
    path = _save(tmp_path / "big.png", Image.new("RGB", (150, 100), (10, 20, 30)))
    assert read_image(path, max_pixels=150 * 100).rgb.shape == (100, 150, 3)
    with pytest.raises(ImageError, match="exceeds the limit of 10000"):
        read_image(path, max_pixels=100 * 100)


@pytest.mark.parametrize("size", [(1, 1), (37, 5), (640, 480), (6000, 1000)])
def test_pixels_of_equals_numpys_conversion(size):
    # banded (6000 px wide: 932 rows a band, so one band and a remainder) and whole alike
    rng = np.random.default_rng(size[0])
    arr = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    im = Image.fromarray(arr)
    out = pixels_of(im)
    assert out.dtype == np.uint8 and out.shape == arr.shape
    np.testing.assert_array_equal(out, np.asarray(im))
