"""training_images: photos kept, masks stored beside them and excluded files left out with the reason."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from gmmseg.errors import InputError
from gmmseg.image.training import looks_like_mask, training_images


def _photo(rng, shape=(32, 40)):
    return rng.integers(0, 256, size=(*shape, 3), dtype=np.uint8)


def _noisy_mask(rng, shape=(32, 40)):
    """Like MTD's masks: mostly faint noise near 0, a defect near 255."""
    mask = rng.integers(0, 4, size=shape).astype(np.uint8)
    mask[5:9, 5:12] = 250
    return mask


@pytest.fixture
def folder(tmp_path):
    rng = np.random.default_rng(0)
    for i in range(3):
        Image.fromarray(_photo(rng)).save(tmp_path / f"part{i}.jpg", quality=95)
    Image.fromarray(_noisy_mask(rng)).save(tmp_path / "part0.png")
    Image.fromarray(np.zeros((32, 40), np.uint8)).save(tmp_path / "part1.png")
    # a binary-looking image with no photo of the same stem is a training image
    Image.fromarray(np.zeros((32, 40), np.uint8)).save(tmp_path / "black.png")
    Image.fromarray(_photo(rng)).save(tmp_path / "extra.png")
    return tmp_path


def test_masks_beside_their_photos_are_skipped_with_the_reason(folder):
    used, skipped = training_images(folder)
    assert sorted(p.name for p in used) == ["black.png", "extra.png", "part0.jpg", "part1.jpg", "part2.jpg"]
    assert {p.name: reason for p, reason in skipped} == {
        "part0.png": "a mask of part0.jpg (binary image with the same stem)",
        "part1.png": "a mask of part1.jpg (binary image with the same stem)",
    }


def test_exclude_globs_match_names_and_paths(folder):
    used, skipped = training_images([folder], exclude=["extra.*", f"{folder}/part2*"])
    assert sorted(p.name for p in used) == ["black.png", "part0.jpg", "part1.jpg"]
    reasons = {p.name: reason for p, reason in skipped}
    assert reasons["extra.png"] == "matches the exclude pattern 'extra.*'"
    assert reasons["part2.jpg"].startswith("matches the exclude pattern") and len(skipped) == 4


def test_nothing_left_is_an_input_error(folder):
    with pytest.raises(InputError, match="no training images left: all 7 listed files"):
        training_images(folder, exclude=["*"])


def test_looks_like_mask_against_explicit_counts():
    rng = np.random.default_rng(1)
    assert looks_like_mask(_noisy_mask(rng))
    assert looks_like_mask(np.full((4, 4, 3), 255, np.uint8))
    assert looks_like_mask(np.array([[0, 1000], [1000, 0]], np.uint16))  # two values, any depth
    assert not looks_like_mask(_photo(rng))
    gray = np.zeros((10, 10), np.uint8)
    gray[0, :2] = 128  # 2% of the pixels in the middle range: more than a mask's faint noise
    gray[1, 0] = 3
    assert not looks_like_mask(gray)


def test_mtd_free_masks_are_left_out(shared_data):
    folder = shared_data / "mtd" / "MT_Free" / "Imgs"
    if not folder.is_dir():
        pytest.skip(f"{folder} is absent")
    used, skipped = training_images(folder)
    assert len(used) == 500 and all(p.suffix == ".jpg" for p in used)
    assert len(skipped) == 500 and all(p.suffix == ".png" for p, _ in skipped)
