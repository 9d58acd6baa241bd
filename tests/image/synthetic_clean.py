"""Clean graphics with exact truth (flat colors, near noise-free), for the smoothing tests and scripts/bench_smoothing.py."""

from __future__ import annotations

import numpy as np

__all__ = ["CLEAN_KINDS", "clean_scene"]

CLEAN_KINDS = ("dots", "lines", "strokes", "steps", "antialiased")


def clean_scene(sigma: float, seed: int, size: int = 128, *, jpeg: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Clean graphics: flat colors with exact truth, near noise-free (a logo, a screenshot, a flat render).

    The kind is ``CLEAN_KINDS[seed % 5]``: small dots (2 to 4 px squares) on a background;
    thin lines (1 to 3 px) across it; text-like strokes (short polylines 1 to 2 px wide);
    a gradient of few steps (3 to 6 flat bands) with a shape over it; shapes with anti-aliased
    edges (drawn at 4x and averaged, so edge pixels mix two colors; the truth is the majority
    color of the 4x drawing). Then Gaussian RGB noise of ``sigma`` and, with ``jpeg``, JPEG
    compression at that quality (OpenCV, 4:2:0 chroma).

    Returns
    -------
    image : ndarray of shape (size, size, 3), uint8
    truth : ndarray of shape (size, size), int
        Color of every pixel, numbered 0..R-1 (R = the colors present).
    """
    import cv2

    rng = np.random.default_rng(seed)
    kind = CLEAN_KINDS[seed % len(CLEAN_KINDS)]
    scale = 4 if kind == "antialiased" else 1
    big = size * scale
    truth = np.zeros((big, big), dtype=np.int32)
    if kind == "dots":
        n_colors = int(rng.integers(2, 4))
        for _ in range(int(rng.integers(40, 120))):
            side = int(rng.integers(2, 5))
            y, x = rng.integers(0, size - side, 2)
            truth[y : y + side, x : x + side] = rng.integers(1, n_colors + 1)
    elif kind == "lines":
        n_colors = int(rng.integers(2, 4))
        for _ in range(int(rng.integers(6, 16))):
            width, at = int(rng.integers(1, 4)), int(rng.integers(0, size - 3))
            view = truth[at : at + width] if rng.random() < 0.5 else truth[:, at : at + width]
            view[...] = rng.integers(1, n_colors + 1)
    elif kind == "strokes":
        n_colors = int(rng.integers(1, 3))
        for _ in range(int(rng.integers(15, 40))):
            points = (rng.integers(0, size, 2) + np.cumsum(rng.integers(-8, 9, (3, 2)), axis=0)).astype(np.int32)
            cv2.polylines(truth, [points], False, int(rng.integers(1, n_colors + 1)), int(rng.integers(1, 3)))
    elif kind == "steps":
        n_steps = int(rng.integers(3, 7))
        truth[:] = (
            (np.arange(size) * n_steps // size)[None, :]
            if rng.random() < 0.5
            else (np.arange(size) * n_steps // size)[:, None]
        )
        n_colors = n_steps
        y, x = rng.integers(size // 4, 3 * size // 4, 2)
        cv2.circle(truth, (int(x), int(y)), int(rng.integers(8, size // 4)), n_colors, -1)
    else:
        n_colors = int(rng.integers(2, 5))
        for j in range(1, n_colors + 1):
            center = tuple(int(c) for c in rng.integers(big // 8, 7 * big // 8, 2))
            if rng.random() < 0.5:
                cv2.circle(truth, center, int(rng.integers(big // 12, big // 4)), j, -1)
            else:
                axes = tuple(int(a) for a in rng.integers(big // 16, big // 4, 2))
                cv2.ellipse(truth, center, axes, float(rng.uniform(0, 180)), 0, 360, j, -1)
    truth = np.unique(truth, return_inverse=True)[1].reshape(big, big)
    if kind == "steps":  # a ramp of one hue between two random colors
        ends = rng.integers(0, 256, (2, 3)).astype(float)
        t = np.linspace(0, 1, truth.max() + 1)[:, None]
        colors = ends[0] * (1 - t) + ends[1] * t
        colors[-1] = rng.integers(0, 256, 3)
    else:
        colors = rng.integers(0, 256, (truth.max() + 1, 3)).astype(float)
    image = colors[truth]
    if scale > 1:
        image = image.reshape(size, scale, size, scale, 3).mean(axis=(1, 3))
        votes = np.stack(
            [(truth == j).reshape(size, scale, size, scale).sum(axis=(1, 3)) for j in range(truth.max() + 1)]
        )
        truth = votes.argmax(axis=0)
        truth = np.unique(truth, return_inverse=True)[1].reshape(size, size)
    image = image + rng.normal(0, sigma, image.shape) if sigma > 0 else image
    image = np.clip(np.round(image), 0, 255).astype(np.uint8)
    if jpeg is not None:
        ok, code = cv2.imencode(".jpg", image[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, int(jpeg)])
        image = np.ascontiguousarray(cv2.imdecode(code, cv2.IMREAD_COLOR)[..., ::-1])
    return image, truth
