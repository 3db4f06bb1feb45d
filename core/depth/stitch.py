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
"""

from __future__ import annotations

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
    are made."""
    out = raw * scale + shift
    out[out < 0] = 0
    return out


class Stitcher:
    """Turns a stream of raw windows [32, H, W] into aligned frames [H, W], emitted as soon as they are final.

    After window 0, frames 0..23 are final; after each further window, 22 more. ``finish()`` returns the last 8.
    The caller drops frames past the shot's real length (they come from the padding).
    """

    def __init__(self, metric: bool = False) -> None:
        self.metric = metric
        self.windows = 0  # windows consumed
        self.emitted = 0  # frames returned so far
        self.scale_shift: tuple[float, float] | None = None  # fit of the last window (None for window 0)
        self._ref: np.ndarray | None = None  # [2, H, W]: window 0's raw frame 0, last aligned key frame
        self._pending: np.ndarray | None = None  # [8, H, W]: frames awaiting the cross-fade

    def push(self, raw: np.ndarray) -> np.ndarray:
        """Consume one window's raw maps, float32 [32, H, W]; return the newly final frames, float32 [m, H, W]."""
        raw = np.asarray(raw, dtype=np.float32)
        if raw.ndim != 3 or raw.shape[0] != WINDOW:
            raise ValueError(f"a window is [{WINDOW}, H, W], got {list(raw.shape)}")
        if self.windows == 0:
            self._ref = np.stack([raw[0], raw[12]])
            done, self._pending = raw[: WINDOW - BLEND], raw[WINDOW - BLEND :].copy()
        else:
            if self.metric:
                scale, shift = np.float32(1.0), np.float32(0.0)
            else:
                pred = np.concatenate(list(raw[:ALIGN_FRAMES]))
                scale, shift = fit_scale_shift(pred, np.concatenate(list(self._ref)))
            self.scale_shift = (float(scale), float(shift))
            blended = [
                self._pending[i] * (1 - w) + apply_scale_shift(raw[ALIGN_FRAMES + i], scale, shift) * w
                for i, w in enumerate(_BLEND_WEIGHTS)
            ]
            new = apply_scale_shift(raw[OVERLAP:], scale, shift)
            self._ref = np.stack([self._ref[0], apply_scale_shift(raw[12], scale, shift)])
            done = np.concatenate([np.stack(blended), new[: -BLEND]])
            self._pending = new[-BLEND:].copy()
        self.windows += 1
        self.emitted += len(done)
        return np.ascontiguousarray(done)

    def finish(self) -> np.ndarray:
        """Return the frames still awaiting a cross-fade, float32 [8, H, W] (empty before any window)."""
        if self._pending is None:
            return np.zeros((0, 0, 0), np.float32)
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
            "ref": self._ref,
            "pending": self._pending,
        }

    @classmethod
    def from_state(cls, state: dict[str, np.ndarray]) -> Stitcher:
        """Rebuild a stitcher from ``state()``."""
        st = cls(metric=bool(state["metric"]))
        st.windows, st.emitted = (int(v) for v in state["counts"])
        fit = state["scale_shift"]
        st.scale_shift = None if np.isnan(fit).any() else (float(fit[0]), float(fit[1]))
        st._ref = np.array(state["ref"], np.float32)
        st._pending = np.array(state["pending"], np.float32)
        return st
