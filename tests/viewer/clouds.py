"""Test sequences: point clouds of one red square at 2 m, filmed with the default 60 degree camera."""

from pathlib import Path

import numpy as np

from core.geometry.camera import Intrinsics
from core.geometry.pointcloud import depth_to_points, write_ply

Square = tuple[slice, slice]
"""Rows and columns of the square in the filmed image."""


def write_squares(folder: Path, squares: list[Square], size: tuple[int, int]) -> list[Path]:
    """Write ``folder/<i>.ply``: frame i is the square ``squares[i]`` of an image of ``size`` (W, H)."""
    w, h = size
    k = Intrinsics.from_fov(w, h)
    image = np.zeros((h, w, 3), np.uint8)
    image[..., 0], image[..., 1] = 230, 20
    folder.mkdir()
    files = []
    for i, (rows, cols) in enumerate(squares):
        depth = np.full((h, w), np.nan, np.float32)
        depth[rows, cols] = 2.0
        files.append(write_ply(folder / f"{i:06d}.ply", depth_to_points(depth, image, k)))
    return files


def red_mask(image: np.ndarray) -> np.ndarray:
    """Where an RGB image (H, W, 3) in uint8 shows the square's red."""
    return (image[..., 0] > 150) & (image[..., 1] < 100)
