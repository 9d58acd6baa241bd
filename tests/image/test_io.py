"""Image input/output: formats, modes, EXIF, 16-bit, transparency, broken files, atomic writes, listing."""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageOps

from gmmseg.errors import ImageError, InputError, ParameterError
from gmmseg.image.io import IMAGE_SUFFIXES, list_images, read_image, write_png


def _rgb(h=24, w=32, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def _digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mtime_ns


def _assert_one_line_naming(exc_info, path, *words):
    text = str(exc_info.value)
    assert "\n" not in text
    assert str(path) in text
    for word in words:
        assert word in text.lower(), text


# ---------------------------------------------------------------------------- formats and modes


@pytest.mark.parametrize(
    ("suffix", "options"),
    [(".png", {}), (".tif", {}), (".bmp", {}), (".webp", {"lossless": True}), (".tiff", {"compression": "tiff_lzw"})],
)
def test_lossless_formats_round_trip_exactly(tmp_path, suffix, options):
    rgb = _rgb()
    gray = rgb[..., 0].copy()
    for name, array in (("rgb", rgb), ("gray", gray)):
        path = tmp_path / f"{name}{suffix}"
        Image.fromarray(array).save(path, **options)
        loaded = read_image(path)
        assert loaded.pixels.dtype == np.uint8 and loaded.bit_depth == 8
        if suffix == ".webp" and name == "gray":  # WebP stores gray as RGB
            np.testing.assert_array_equal(loaded.pixels, np.repeat(gray[..., None], 3, axis=2))
        else:
            np.testing.assert_array_equal(loaded.pixels, array)
        assert loaded.alpha is None and loaded.path == path


def test_jpeg_matches_pillow_decoder(tmp_path):
    path = tmp_path / "photo.jpg"
    Image.fromarray(_rgb(40, 50)).save(path, quality=85)
    with Image.open(path) as im:
        reference = np.asarray(im.convert("RGB"))
    np.testing.assert_array_equal(read_image(path).pixels, reference)


@pytest.mark.parametrize("orientation", range(1, 9))
@pytest.mark.parametrize("suffix", [".jpg", ".png"])
def test_exif_orientation_matches_pillow_exif_transpose(tmp_path, orientation, suffix):
    rgb = _rgb(12, 20, seed=orientation)
    im = Image.fromarray(rgb)
    exif = im.getexif()
    exif[0x0112] = orientation
    path = tmp_path / f"o{orientation}{suffix}"
    im.save(path, exif=exif.tobytes(), **({"quality": 95} if suffix == ".jpg" else {}))
    with Image.open(path) as opened:
        reference = np.asarray(ImageOps.exif_transpose(opened).convert("RGB"))
    loaded = read_image(path)
    assert loaded.pixels.shape == reference.shape
    np.testing.assert_array_equal(loaded.pixels, reference)
    if orientation in (5, 6, 7, 8):
        assert loaded.pixels.shape[:2] == (20, 12)


def test_16bit_gray_and_colour_keep_their_depth(tmp_path):
    import cv2
    import tifffile

    rng = np.random.default_rng(3)
    colour = rng.integers(0, 65536, (9, 11, 3), dtype=np.uint16)
    gray = colour[..., 1].copy()
    cv2.imwrite(str(tmp_path / "c16.png"), colour[..., ::-1])
    tifffile.imwrite(tmp_path / "c16.tif", colour)
    Image.fromarray(gray).save(tmp_path / "g16.png")
    tifffile.imwrite(tmp_path / "g16.tif", gray)
    for name, expected in (("c16.png", colour), ("c16.tif", colour), ("g16.png", gray), ("g16.tif", gray)):
        loaded = read_image(tmp_path / name)
        assert loaded.pixels.dtype == np.uint16 and loaded.bit_depth == 16, name
        np.testing.assert_array_equal(loaded.pixels, expected)


def test_16bit_rgba_png_gives_16bit_colour_and_alpha_mask(tmp_path):
    rng = np.random.default_rng(4)
    rgba = rng.integers(1, 65536, (6, 7, 4), dtype=np.uint16)
    rgba[0, :3, 3] = 0
    write_png(tmp_path / "a16.png", rgba)
    loaded = read_image(tmp_path / "a16.png")
    np.testing.assert_array_equal(loaded.pixels, rgba[..., :3])
    np.testing.assert_array_equal(loaded.alpha, rgba[..., 3] > 0)


def test_rgba_la_and_palette_transparency(tmp_path):
    rgb = _rgb(10, 12)
    alpha = np.full((10, 12), 255, dtype=np.uint8)
    alpha[:, :4] = 0
    alpha[0, 5] = 1  # barely visible still counts as visible
    Image.fromarray(np.dstack([rgb, alpha])).save(tmp_path / "rgba.png")
    loaded = read_image(tmp_path / "rgba.png")
    np.testing.assert_array_equal(loaded.pixels, rgb)
    np.testing.assert_array_equal(loaded.alpha, alpha > 0)
    assert loaded.mode == "RGBA"

    Image.fromarray(np.dstack([rgb[..., 0], alpha]), mode="LA").save(tmp_path / "la.png")
    loaded = read_image(tmp_path / "la.png")
    np.testing.assert_array_equal(loaded.pixels, rgb[..., 0])
    np.testing.assert_array_equal(loaded.alpha, alpha > 0)

    # all opaque: no mask
    Image.fromarray(np.dstack([rgb, np.full((10, 12), 255, np.uint8)])).save(tmp_path / "opaque.png")
    assert read_image(tmp_path / "opaque.png").alpha is None

    # palette with a transparent index
    pal = Image.fromarray(rgb).quantize(8)
    pal.info["transparency"] = 0
    pal.save(tmp_path / "pal.png", transparency=0)
    with Image.open(tmp_path / "pal.png") as im:
        reference = np.asarray(im.convert("RGBA"))
    loaded = read_image(tmp_path / "pal.png")
    assert loaded.mode == "P"
    np.testing.assert_array_equal(loaded.pixels, reference[..., :3])
    np.testing.assert_array_equal(loaded.alpha, reference[..., 3] > 0)


def test_palette_cmyk_and_bilevel_are_converted_like_pillow(tmp_path):
    rgb = _rgb(16, 16)
    Image.fromarray(rgb).quantize(16).save(tmp_path / "pal.gif")
    Image.fromarray(rgb).convert("CMYK").save(tmp_path / "cmyk.jpg", quality=95)
    Image.fromarray(rgb).convert("CMYK").save(tmp_path / "cmyk.tif")
    Image.fromarray(rgb[..., 0] > 128).save(tmp_path / "bw.png")
    for name, mode in (("pal.gif", "P"), ("cmyk.jpg", "CMYK"), ("cmyk.tif", "CMYK")):
        with Image.open(tmp_path / name) as im:
            reference = np.asarray(im.convert("RGB"))
        loaded = read_image(tmp_path / name)
        assert loaded.mode == mode
        np.testing.assert_array_equal(loaded.pixels, reference)
    loaded = read_image(tmp_path / "bw.png")
    assert loaded.mode == "1"
    np.testing.assert_array_equal(loaded.pixels, np.where(rgb[..., 0] > 128, 255, 0))


def test_mode_rgb_and_gray(tmp_path):
    rgb = _rgb()
    Image.fromarray(rgb).save(tmp_path / "c.png")
    Image.fromarray(rgb[..., 2]).save(tmp_path / "g.png")
    gray = read_image(tmp_path / "c.png", mode="gray").pixels
    np.testing.assert_array_equal(gray, np.asarray(Image.fromarray(rgb).convert("L")))
    expanded = read_image(tmp_path / "g.png", mode="rgb").pixels
    np.testing.assert_array_equal(expanded, np.repeat(rgb[..., 2:3], 3, axis=2))
    with pytest.raises(ParameterError):
        read_image(tmp_path / "c.png", mode="cmyk")


def test_returned_pixels_are_writable_and_input_untouched(tmp_path):
    path = tmp_path / "p.png"
    Image.fromarray(_rgb()).save(path)
    before = _digest(path)
    loaded = read_image(path)
    loaded.pixels[0, 0] = 0  # must not fail nor touch the file
    assert loaded.pixels.flags.writeable and loaded.pixels.flags.c_contiguous
    assert _digest(path) == before


# ---------------------------------------------------------------------------- broken files


def _broken_files(tmp_path):
    good = io.BytesIO()
    Image.fromarray(_rgb(64, 64)).save(good, format="PNG")
    png = good.getvalue()
    good_jpg = io.BytesIO()
    Image.fromarray(_rgb(64, 64)).save(good_jpg, format="JPEG")
    jpg = good_jpg.getvalue()
    corrupt = bytearray(png)
    corrupt[60:120] = b"\x00" * 60
    files = {
        "empty.png": (b"", "empty"),
        "text.jpg": (b"this is not an image\n", "not an image"),
        "truncated.png": (png[: len(png) // 2], "truncated"),
        "truncated.jpg": (jpg[: len(jpg) // 2], "truncated"),
        "corrupt.png": (bytes(corrupt), "corrupt"),
    }
    for name, (payload, _) in files.items():
        (tmp_path / name).write_bytes(payload)
    return {name: word for name, (_, word) in files.items()}


def test_broken_files_raise_one_line_image_errors(tmp_path):
    for name, word in _broken_files(tmp_path).items():
        path = tmp_path / name
        before = _digest(path)
        with pytest.raises(ImageError) as exc_info:
            read_image(path)
        _assert_one_line_naming(exc_info, path, word)
        assert _digest(path) == before
    with pytest.raises(ImageError) as exc_info:
        read_image(tmp_path / "missing.png")
    _assert_one_line_naming(exc_info, tmp_path / "missing.png", "no such file")
    with pytest.raises(ImageError) as exc_info:
        read_image(tmp_path)
    _assert_one_line_naming(exc_info, tmp_path, "folder")


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root can read any file")
def test_unreadable_file(tmp_path):
    path = tmp_path / "secret.png"
    Image.fromarray(_rgb()).save(path)
    path.chmod(0)
    try:
        with pytest.raises(ImageError) as exc_info:
            read_image(path)
        _assert_one_line_naming(exc_info, path, "permission")
    finally:
        path.chmod(0o644)


def test_decompression_bomb_limit_can_be_raised_or_removed(tmp_path):
    path = tmp_path / "big.png"
    Image.new("L", (300, 200)).save(path)
    with pytest.raises(ImageError) as exc_info:
        read_image(path, max_pixels=59_999)
    _assert_one_line_naming(exc_info, path, "60,000 pixels", "--max-pixels")
    assert read_image(path, max_pixels=60_000).pixels.shape == (200, 300)
    assert read_image(path, max_pixels=None).pixels.shape == (200, 300)
    # Above Pillow's own error threshold (2 x MAX_IMAGE_PIXELS), lifted by max_pixels
    saved = Image.MAX_IMAGE_PIXELS
    try:
        Image.MAX_IMAGE_PIXELS = 20_000
        assert read_image(path, max_pixels=None).pixels.shape == (200, 300)
        assert Image.MAX_IMAGE_PIXELS == 20_000  # restored
    finally:
        Image.MAX_IMAGE_PIXELS = saved
    with pytest.raises(ParameterError):
        read_image(path, max_pixels=0)


# ---------------------------------------------------------------------------- writing


@pytest.mark.parametrize(
    "array",
    [
        np.arange(12, dtype=np.uint8).reshape(3, 4),
        (np.arange(12, dtype=np.uint16) * 5000).reshape(3, 4),
        np.arange(36, dtype=np.uint8).reshape(3, 4, 3),
        (np.arange(36, dtype=np.uint16) * 1800).reshape(3, 4, 3),
        np.arange(48, dtype=np.uint8).reshape(3, 4, 4) + 1,
    ],
    ids=["gray8", "gray16", "rgb8", "rgb16", "rgba8"],
)
def test_write_png_round_trips_8_and_16_bit(tmp_path, array):
    path = write_png(tmp_path / "out.png", array)
    if array.ndim == 3 and array.shape[2] == 4:
        loaded = read_image(path)
        np.testing.assert_array_equal(loaded.pixels, array[..., :3])
    else:
        loaded = read_image(path)
        assert loaded.pixels.dtype == array.dtype
        np.testing.assert_array_equal(loaded.pixels, array)
    assert [p.name for p in tmp_path.iterdir()] == ["out.png"]  # no temporary file left


def test_write_png_refuses_inputs_and_bad_arrays(tmp_path):
    src = tmp_path / "in.png"
    Image.fromarray(_rgb()).save(src)
    before = _digest(src)
    with pytest.raises(InputError, match="refusing to overwrite"):
        write_png(tmp_path / "." / "in.png", np.zeros((2, 2), np.uint8), protect=[src])
    assert _digest(src) == before
    with pytest.raises(ParameterError):
        write_png(tmp_path / "x.png", np.zeros((2, 2), np.float32))
    with pytest.raises(ParameterError):
        write_png(tmp_path / "x.png", np.zeros((2, 2, 2), np.uint8))


# ---------------------------------------------------------------------------- listing


def test_list_images_expands_files_folders_and_globs(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    for name in ("b.JPG", "a.png", "c.tif", "notes.txt"):
        (folder / name).write_bytes(b"x")
    (folder / "sub").mkdir()
    (folder / "sub" / "d.png").write_bytes(b"x")
    assert [p.name for p in list_images(folder)] == ["a.png", "b.JPG", "c.tif"]
    assert [p.name for p in list_images([str(folder / "*.png"), folder / "a.png"])] == ["a.png"]
    assert [p.name for p in list_images([str(folder / "**" / "*.png")])] == ["a.png", "d.png"]
    # explicit files are kept even when missing or oddly named: reading them says what is wrong
    assert list_images([folder / "notes.txt", tmp_path / "gone.png"]) == [folder / "notes.txt", tmp_path / "gone.png"]
    with pytest.raises(InputError, match="matches no file"):
        list_images([str(tmp_path / "*.jpeg")])
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no image files"):
        list_images(tmp_path / "empty")
    assert ".webp" in IMAGE_SUFFIXES and ".bmp" in IMAGE_SUFFIXES


def _tree(root):
    for rel in ["a.png", "sub/b.png", "sub/deep/c.png", "sub/deep/d.txt", ".hidden/e.png", "sub/.f.png", "x.jpg"]:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")


@pytest.mark.parametrize("pattern", ["**/*.png", "*/*.png", "sub/**/*", "s?b/*/*.png", "**", "[as]*", "sub/**/.*"])
def test_list_images_globs_match_the_glob_module_on_a_tree_without_links(tmp_path, pattern):
    import glob

    _tree(tmp_path)
    expected = [Path(m) for m in sorted(glob.glob(str(tmp_path / pattern), recursive=True)) if Path(m).is_file()]
    if not expected:
        with pytest.raises(InputError, match="matches no file"):
            list_images([str(tmp_path / pattern)])
    else:
        assert list_images([str(tmp_path / pattern)]) == expected


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="needs symlinks")
def test_list_images_globs_end_on_symlink_loops_and_list_each_image_once(tmp_path):
    _tree(tmp_path)
    (tmp_path / "sub" / "deep" / "loop").symlink_to(tmp_path / "sub")  # one loop
    (tmp_path / "sub" / "back").symlink_to(tmp_path)  # a second loop, through the top folder
    (tmp_path / "b-again.png").symlink_to(tmp_path / "sub" / "b.png")  # a second name for one file
    found = list_images([str(tmp_path / "**" / "*.png")])
    assert sorted(os.path.relpath(os.path.realpath(p), tmp_path) for p in found) == [
        "a.png",
        "sub/b.png",
        "sub/deep/c.png",
    ]
    assert len(found) == 3
    relative = list_images([str(tmp_path / "sub" / "**" / "*.png"), tmp_path / "sub" / "b.png"])
    # the link back to the top folder is entered once (the top was not visited from sub/), then sub/ is not again
    assert [p.name for p in relative] == ["b.png", "a.png", "c.png"]
