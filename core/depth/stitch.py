"""Streaming window stitching: scale/shift alignment, cross-fade and clamp of VDA windows (pure numpy float32).

``Stitcher`` consumes each window's 32 raw depth maps (network output resized to the frame size) and returns the
frames that are final, in order. It reproduces the reference ``infer_video_depth`` bit for bit:

* window 0 is taken as is (not scaled, not clamped);
* for window k >= 1, ``s, t`` are fitted by least squares (float32 sums, all pixels, no mask) so that
  ``s * raw[k][i] + t`` matches the aligned maps of the two reference frames (window 0's raw frame 0, and the previous
  window's aligned position 12) for ``i = 0, 1``; metric models use ``s = 1, t = 0``;
* positions 2..9 are scaled, clamped at 0 and cross-faded over the previous window's last 8 frames with weights
  ``i / 7``; positions 10..31 are scaled, clamped and appended.

Only 10 maps are kept between windows (two references, eight frames awaiting the cross-fade), so memory does not
grow with the length of the shot; ``state()`` / ``Stitcher.from_state`` save and restore them for resuming.
Windows and results are lists of separate frames, not stacked arrays: a 1080p window is 265 MB, and arrays that
large are fresh memory (page faults) every time, while frame-sized ones are reused by the allocator.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from core.depth.windows import ALIGN_FRAMES, BLEND, OVERLAP, WINDOW

_BLEND_WEIGHTS = [0.0] + [i * (1.0 / (BLEND - 1)) for i in range(1, BLEND - 1)] + [1.0]


def fit_scale_shift(pred: np.ndarray, target: np.ndarray) -> tuple[np.float32, np.float32]:
    """Least-squares ``s, t`` with ``s * pred + t ~ target`` over all pixels, in float32 sums.

    pred, target: float32 [2H, W] (the two frames stacked along rows). Returns (1, 0) when the system is singular.
    """
    a00 = np.sum(pred * pred)
    a01 = np.sum(pred)
    a11 = np.float32(pred.size)
    b0 = np.sum(pred * target)
    b1 = np.sum(target)
    det = a00 * a11 - a01 * a01
    if det == 0:
        return np.float32(1.0), np.float32(0.0)
    return (a11 * b0 - a01 * b1) / det, (-a01 * b0 + a00 * b1) / det


def apply_scale_shift(raw: np.ndarray, scale: np.float32, shift: np.float32) -> np.ndarray:
    """``scale * raw + shift`` clamped at 0 (a new array, float32 for float32 input): how an aligned window's maps
    are made. Computed in place in one output array (the values of ``out = raw * scale + shift; out[out < 0] = 0``)."""
    out = np.multiply(raw, scale)
    out += shift
    np.maximum(out, 0, out=out)
    return out


def _frames(raw: Sequence[np.ndarray] | np.ndarray) -> list[np.ndarray]:
    """A window's 32 maps as a list of float32 [H, W] frames (no copies of float32 input)."""
    frames = [np.asarray(f, dtype=np.float32) for f in raw]
    if len(frames) != WINDOW or any(f.ndim != 2 or f.shape != frames[0].shape for f in frames):
        raise ValueError(f"a window is {WINDOW} frames of one H x W size, got {[f.shape for f in frames]}")
    return frames


class Stitcher:
    """Turns a stream of raw windows (32 frames [H, W]) into aligned frames [H, W], emitted as soon as they are final.

    After window 0, frames 0..23 are final; after each further window, 22 more. ``finish()`` returns the last 8.
    The caller drops frames past the shot's real length (they come from the padding). The frames returned are
    not used by the stitcher afterwards; it never changes the arrays it was given.
    """

    def __init__(self, metric: bool = False) -> None:
        self.metric = metric
        self.windows = 0  # windows consumed
        self.emitted = 0  # frames returned so far
        self.scale_shift: tuple[float, float] | None = None  # fit of the last window (None for window 0)
        self._ref: list[np.ndarray] | None = None  # 2 x [H, W]: window 0's raw frame 0, last aligned key frame
        self._pending: list[np.ndarray] | None = None  # 8 x [H, W]: frames awaiting the cross-fade

    def push(self, raw: Sequence[np.ndarray] | np.ndarray) -> list[np.ndarray]:
        """Consume one window's raw maps (32 float32 frames [H, W], or an array [32, H, W]); return the newly final
        frames, float32 [H, W] each."""
        raw = _frames(raw)
        if self.windows == 0:
            self._ref = [raw[0].copy(), raw[12].copy()]
            done, self._pending = raw[: WINDOW - BLEND], [f.copy() for f in raw[WINDOW - BLEND :]]
        else:
            if self.metric:
                scale, shift = np.float32(1.0), np.float32(0.0)
            else:
                scale, shift = fit_scale_shift(np.concatenate(raw[:ALIGN_FRAMES]), np.concatenate(self._ref))
            self.scale_shift = (float(scale), float(shift))
            done = []
            for i, w in enumerate(_BLEND_WEIGHTS):  # pending * (1 - w) + aligned * w
                blended = self._pending[i] * (1 - w)
                aligned = apply_scale_shift(raw[ALIGN_FRAMES + i], scale, shift)
                aligned *= w
                blended += aligned
                done.append(blended)
            new = [apply_scale_shift(f, scale, shift) for f in raw[OVERLAP:]]
            self._ref = [self._ref[0], new[12 - OVERLAP].copy()]
            done += new[:-BLEND]
            self._pending = new[-BLEND:]
        self.windows += 1
        self.emitted += len(done)
        return [np.ascontiguousarray(f) for f in done]

    def finish(self) -> list[np.ndarray]:
        """Return the frames still awaiting a cross-fade, 8 float32 [H, W] (none before any window)."""
        if self._pending is None:
            return []
        done, self._pending = self._pending, None
        self.emitted += len(done)
        return done

    def state(self) -> dict[str, np.ndarray]:
        """The whole state as arrays (for ``np.savez``); valid between windows."""
        if self._ref is None or self._pending is None:
            raise ValueError("nothing to save before the first window")
        fit = self.scale_shift if self.scale_shift is not None else (np.nan, np.nan)
        return {
            "metric": np.array(self.metric),
            "counts": np.array([self.windows, self.emitted], np.int64),
            "scale_shift": np.array(fit, np.float64),
            "ref": np.stack(self._ref),
            "pending": np.stack(self._pending),
        }

    @classmethod
    def from_state(cls, state: dict[str, np.ndarray]) -> Stitcher:
        """Rebuild a stitcher from ``state()``."""
        st = cls(metric=bool(state["metric"]))
        st.windows, st.emitted = (int(v) for v in state["counts"])
        fit = state["scale_shift"]
        st.scale_shift = None if np.isnan(fit).any() else (float(fit[0]), float(fit[1]))
        st._ref = list(np.array(state["ref"], np.float32))
        st._pending = list(np.array(state["pending"], np.float32))
        return st
