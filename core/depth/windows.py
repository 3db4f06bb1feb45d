"""Window schedule of VDA's long-video inference (key-frame referencing).

A shot of ``n`` frames is covered by windows of ``WINDOW`` = 32 positions starting every ``STEP`` = 22 frames.
Window k >= 1 re-uses 10 inputs of window k-1 (its positions ``KEY_POSITIONS``) at positions 0..9, so position 0
always holds the shot's first frame, position 1 the frame window k-1 held at position 12, and positions 2..9 the
frames ``22k+2 .. 22k+9``; positions 10..31 hold the new frames ``22k+10 .. 22k+31``. Past the end the shot is padded
with copies of its last frame.
"""

from __future__ import annotations

import numpy as np

WINDOW = 32
OVERLAP = 10
STEP = WINDOW - OVERLAP
KEY_POSITIONS = (0, 12, 24, 25, 26, 27, 28, 29, 30, 31)
ALIGN_FRAMES = 2  # leading key positions used for the scale/shift fit
BLEND = OVERLAP - ALIGN_FRAMES  # overlapping frames cross-faded between windows


def num_windows(n: int) -> int:
    """Windows the reference computes for ``n`` frames: ceil(n / 22)."""
    return -(-n // STEP)


def useful_windows(n: int) -> int:
    """Windows whose output reaches the result for ``n`` frames.

    Window k >= 1 first contributes to frame 22k+3 (frame 22k+2 gets cross-fade weight 0), so when
    ``n mod 22`` is 1, 2 or 3 the reference computes a last window that changes nothing; the engine skips it.
    """
    w = num_windows(n)
    if w > 1 and n - STEP * (w - 1) <= 3:
        return w - 1
    return w


def window_frame_index(n: int) -> np.ndarray:
    """Frame held by each window position for ``n`` frames: int64 [num_windows(n), 32] (padding repeats n-1)."""
    rows = []
    for k in range(num_windows(n)):
        row = np.minimum(np.arange(STEP * k, STEP * k + WINDOW), n - 1)
        if k > 0:
            row[:OVERLAP] = rows[-1][list(KEY_POSITIONS)]
        rows.append(row)
    return np.stack(rows).astype(np.int64)
