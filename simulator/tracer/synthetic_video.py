"""A synthetic video stream with moving objects, for real-valued runs of small models.

Frames are [3, H, W] float tensors in [0, 1]: a static textured background (a gradient plus a fixed
random texture, so neighbouring patches differ as in real scenes) with a few textured squares moving
on straight lines that bounce off the borders, plus mild sensor noise. Consecutive
frames are therefore highly similar where nothing moves, which is the property temporal clustering
exploits. Deterministic for a given seed.
"""

from __future__ import annotations

import numpy as np
import torch


def synthetic_frames(n_frames: int, size: int, *, objects: int = 3, seed: int = 0):
    """Yield ``n_frames`` frames of shape [3, size, size]."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / max(1, size - 1)
    background = np.stack([0.3 + 0.4 * xx, 0.3 + 0.4 * yy, 0.5 + 0.0 * xx])
    background = background + rng.normal(0, 0.15, size=background.shape)
    side = max(2, size // 6)
    pos = rng.uniform(0, size - side, size=(objects, 2))
    vel = rng.uniform(-0.04, 0.04, size=(objects, 2)) * size
    colour = rng.uniform(0, 1, size=(objects, 3))
    texture = rng.normal(0, 0.1, size=(objects, 3, side, side))
    for _ in range(n_frames):
        frame = background.copy()
        for o in range(objects):
            y, x = pos[o].astype(int)
            frame[:, y:y + side, x:x + side] = colour[o][:, None, None] + texture[o]
        frame += rng.normal(0, 0.01, size=frame.shape)
        yield torch.tensor(np.clip(frame, 0, 1), dtype=torch.float32)
        pos += vel
        for d in range(2):
            hit = (pos[:, d] < 0) | (pos[:, d] > size - side)
            vel[hit, d] *= -1
            pos[:, d] = np.clip(pos[:, d], 0, size - side)
