"""Camera poses from a depth pass and its video: Open3D RGB-D odometry, key frames and a pose graph per shot.

Per shot (a cut restarts the trajectory; the shot's first camera is its world):

1. Each frame is undistorted to a pinhole (colour bilinearly, depth nearest) when the lens has distortion, and
   only its measured depth is used (the pass's validity mask drops filled pixels).
2. Open3D's RGB-D odometry with the hybrid (photometric + geometric) term aligns it to the previous frame,
   starting from the previous motion; then to the current *key frame*, starting from the chained pose, which
   removes the drift of the frame-to-frame chain.
3. A frame becomes the next key frame when it has moved ``key_translation`` (a fraction of the shot's median
   depth) or turned ``key_rotation_deg`` from the current one, or its overlap with it dropped below
   ``key_min_fitness``. A new key frame is also aligned to the older key frames seen from nearby (loop closures).
4. All of it (frame-to-frame, frame-to-key-frame and loop edges with their information matrices) goes into an
   Open3D pose graph, optimised with Levenberg-Marquardt (loop edges that disagree are pruned).

A frame's ``fitness`` is the fraction of its valid pixels that found a correspondence (Open3D's information
matrix counts them); below ``min_fitness`` against both the previous frame and the key frame, tracking failed:
the frame is flagged invalid and its pose predicted at constant velocity, with a weak edge that keeps the graph
connected.
"""

from __future__ import annotations

import itertools
import logging
import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import cv2
import numpy as np
import open3d as o3d

from core.depth.depth_pass import DepthPass
from core.errors import DepthshotError
from core.geometry.camera import Intrinsics, undistortion_maps
from core.geometry.poses import Trajectory
from core.geometry.sequence import CameraOptions, iter_frames

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]
"""``progress(done, total)`` frames."""


@dataclass(frozen=True)
class OdometryConfig:
    """Tracking parameters. Lengths are fractions of the shot's median depth (so relative depth works too)."""

    key_translation: float = 0.06  # a new key frame after moving this far from the current one
    key_rotation_deg: float = 6.0  # ... or turning this much
    key_min_fitness: float = 0.6  # ... or when the overlap with it falls below this
    loop_translation: float = 0.2  # older key frames closer than this are tried as loop closures
    loop_rotation_deg: float = 20.0
    max_loops: int = 4  # loop closures tried per new key frame (the nearest)
    depth_diff: float = 0.006  # odometry correspondence distance (0.02 on TUM fr1/xyz: ATE 1.45 cm, 0.006: 1.04 cm)
    min_fitness: float = 0.25  # below this (against previous and key frame) tracking failed
    scale: float = 0.5  # odometry image scale (0.5: a quarter of the pixels)

    def __post_init__(self) -> None:
        if not 0.1 <= self.scale <= 1.0:
            raise DepthshotError(f"odometry scale must be within 0.1 .. 1, got {self.scale}")
        if not self.key_translation > 0 or not self.depth_diff > 0:
            raise DepthshotError("key-frame distance and depth difference must be positive")


@dataclass
class _Frame:
    rgbd: o3d.geometry.RGBDImage
    valid_pixels: int


class _Tracker:
    """Tracks one shot; holds the key frames' images (the frame-to-frame ones only for one step)."""

    def __init__(self, k: Intrinsics, config: OdometryConfig, median_depth: float) -> None:
        self.config = config
        self.k_work = k.undistorted().resized(max(8, round(k.width * config.scale)), max(8, round(k.height * config.scale)))
        self.maps = undistortion_maps(k) if k.distortion else None
        self.camera = o3d.camera.PinholeCameraIntrinsic(
            self.k_work.width, self.k_work.height, self.k_work.fx, self.k_work.fy, self.k_work.cx, self.k_work.cy
        )
        self.unit = median_depth
        self.option = o3d.pipelines.odometry.OdometryOption(
            iteration_number_per_pyramid_level=o3d.utility.IntVector([20, 10, 5]),
            depth_diff_max=config.depth_diff * median_depth,
            depth_min=1e-3 * median_depth,
            depth_max=1e3 * median_depth,
        )
        self.jacobian = o3d.pipelines.odometry.RGBDOdometryJacobianFromHybridTerm()
        self.graph = o3d.pipelines.registration.PoseGraph()
        self.poses: list[np.ndarray] = []
        self.valid: list[bool] = []
        self.fitness: list[float] = []
        self.inliers: list[int] = []
        self.keys: list[tuple[int, _Frame]] = []
        self.prev: _Frame | None = None
        self.motion = np.eye(4)  # last frame-to-frame motion (previous camera from current)

    def prepare(self, image: np.ndarray, depth: np.ndarray) -> _Frame:
        """Undistort, scale and wrap one frame (depth NaN = none) for Open3D."""
        depth = np.nan_to_num(depth, nan=0.0).astype(np.float32)
        if self.maps is not None:
            image = cv2.remap(image, *self.maps, cv2.INTER_LINEAR)
            depth = cv2.remap(depth, *self.maps, cv2.INTER_NEAREST)
        size = (self.k_work.width, self.k_work.height)
        if size != (image.shape[1], image.shape[0]):
            image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
            depth = cv2.resize(depth, size, interpolation=cv2.INTER_NEAREST)
        rgbd = o3d.geometry.RGBDImage.create_from_color_and_depth(
            o3d.geometry.Image(np.ascontiguousarray(image)), o3d.geometry.Image(np.ascontiguousarray(depth)),
            depth_scale=1.0, depth_trunc=float(self.option.depth_max), convert_rgb_to_intensity=True,
        )
        return _Frame(rgbd, int((depth > 0).sum()))

    def _odometry(self, src: _Frame, dst: _Frame, init: np.ndarray) -> tuple[bool, np.ndarray, np.ndarray, float]:
        """``dst``-camera-from-``src``-camera transform, information matrix, fitness."""
        ok, t, info = o3d.pipelines.odometry.compute_rgbd_odometry(
            src.rgbd, dst.rgbd, self.camera, init, self.jacobian, self.option
        )
        fitness = float(info[5, 5]) / max(1, src.valid_pixels) if ok else 0.0
        return bool(ok), np.asarray(t), np.asarray(info), fitness

    def add(self, frame: _Frame) -> None:
        i = len(self.poses)
        if i == 0:
            self._add_node(np.eye(4), True, 1.0, frame.valid_pixels)
            self.keys.append((0, frame))
            self.prev = frame
            return
        cfg = self.config
        ok, t_prev, info_prev, fit_prev = self._odometry(frame, self.prev, self.motion)
        tracked_prev = ok and fit_prev >= cfg.min_fitness
        pose = self.poses[-1] @ (t_prev if tracked_prev else self.motion)
        key_index, key = self.keys[-1]
        ok_k, t_key, info_key, fit_key = self._odometry(frame, key, np.linalg.inv(self.poses[key_index]) @ pose)
        tracked_key = ok_k and fit_key >= cfg.min_fitness
        if tracked_key:
            pose = self.poses[key_index] @ t_key
        valid = tracked_prev or tracked_key
        self._add_node(pose, valid, max(fit_prev, fit_key), int(max(info_prev[5, 5], info_key[5, 5])))
        if tracked_prev:
            self._add_edge(i, i - 1, t_prev, info_prev, uncertain=False)
        if tracked_key and key_index != i - 1:
            self._add_edge(i, key_index, t_key, info_key, uncertain=False)
        if not valid:
            log.warning("tracking failed at shot frame %d (fitness %.2f / %.2f)", i, fit_prev, fit_key)
            self._add_edge(i, i - 1, self.motion, np.eye(6), uncertain=False)  # weak: keeps the graph connected
        self.motion = np.linalg.inv(self.poses[-2]) @ pose
        self.prev = frame
        rel = np.linalg.inv(self.poses[key_index]) @ pose
        if valid and (
            np.linalg.norm(rel[:3, 3]) > cfg.key_translation * self.unit
            or _angle_deg(rel) > cfg.key_rotation_deg
            or fit_key < cfg.key_min_fitness
        ):
            self._close_loops(i, frame)
            self.keys.append((i, frame))

    def _close_loops(self, i: int, frame: _Frame) -> None:
        cfg = self.config
        pose = self.poses[i]
        candidates = []
        for k, key in self.keys[:-1]:
            rel = np.linalg.inv(self.poses[k]) @ pose
            dist = float(np.linalg.norm(rel[:3, 3]))
            if dist < cfg.loop_translation * self.unit and _angle_deg(rel) < cfg.loop_rotation_deg:
                candidates.append((dist, k, key, rel))
        for _, k, key, rel in sorted(candidates, key=lambda c: c[0])[: cfg.max_loops]:
            ok, t, info, fit = self._odometry(frame, key, rel)
            if ok and fit >= cfg.key_min_fitness * 0.5:
                self._add_edge(i, k, t, info, uncertain=True)

    def _add_node(self, pose: np.ndarray, valid: bool, fitness: float, inliers: int) -> None:
        self.poses.append(pose)
        self.valid.append(valid)
        self.fitness.append(min(1.0, fitness))
        self.inliers.append(inliers)
        self.graph.nodes.append(o3d.pipelines.registration.PoseGraphNode(pose))

    def _add_edge(self, src: int, dst: int, t: np.ndarray, info: np.ndarray, uncertain: bool) -> None:
        # Open3D's edge (s, t) holds the transform from s's camera to t's: pose_t^-1 @ pose_s
        self.graph.edges.append(o3d.pipelines.registration.PoseGraphEdge(src, dst, t, info, uncertain=uncertain))

    def optimise(self) -> np.ndarray:
        """Optimise the shot's pose graph; poses (N, 4, 4) with the first frame at the identity."""
        if len(self.poses) > 1:
            option = o3d.pipelines.registration.GlobalOptimizationOption(
                max_correspondence_distance=self.config.depth_diff * self.unit,
                edge_prune_threshold=0.25,
                preference_loop_closure=1.0,
                reference_node=0,
            )
            with o3d.utility.VerbosityContextManager(o3d.utility.VerbosityLevel.Error):
                o3d.pipelines.registration.global_optimization(
                    self.graph,
                    o3d.pipelines.registration.GlobalOptimizationLevenbergMarquardt(),
                    o3d.pipelines.registration.GlobalOptimizationConvergenceCriteria(),
                    option,
                )
        poses = np.stack([np.asarray(n.pose) for n in self.graph.nodes])
        return np.linalg.inv(poses[0]) @ poses


def _angle_deg(t: np.ndarray) -> float:
    """Rotation angle of a 4x4 transform, degrees."""
    c = (np.trace(t[:3, :3]) - 1.0) / 2.0
    return math.degrees(math.acos(max(-1.0, min(1.0, c))))


def track_shot(
    frames: Iterable[tuple[np.ndarray, np.ndarray]],
    k: Intrinsics,
    median_depth: float,
    config: OdometryConfig = OdometryConfig(),
    on_frame: Callable[[], None] | None = None,
) -> Trajectory:
    """Poses of one shot's frames, world = its first camera.

    Args:
        frames: ``(image (H, W, 3) uint8 RGB, depth (H, W) float32 along the optical axis, NaN = none)`` in order.
        k: the lens of the frames (distortion undistorted here).
        median_depth: a typical depth of the shot, the unit of the config's lengths.
        on_frame: called after each frame (progress).
    Returns:
        The shot's trajectory (valid, fitness and inliers per frame).
    """
    tracker = _Tracker(k, config, median_depth)
    for image, depth in frames:
        tracker.add(tracker.prepare(image, depth))
        if on_frame is not None:
            on_frame()
    if not tracker.poses:
        raise DepthshotError("a shot without frames has no poses")
    return Trajectory(
        tracker.optimise(),
        np.array(tracker.valid),
        np.array(tracker.fitness),
        np.array(tracker.inliers, np.int64),
        source="estimate",
    )


def estimate_pass_poses(
    dp: DepthPass,
    camera: CameraOptions = CameraOptions(),
    config: OdometryConfig = OdometryConfig(),
    on_frame: Callable[[], None] | None = None,
) -> Trajectory:
    """Poses of every frame of the pass ``dp`` (shot by shot, measured depth only, colours of its video).

    Relative passes are tracked in the scene units of the geometry commands (``camera.depth_range``), so the
    poses fit the clouds and meshes made with the same ``--near``/``--near-far-ratio``.
    """
    k = camera.intrinsics(dp)

    def shot_frames(shot) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        for f in iter_frames(dp, range(shot.start, shot.end), camera):
            yield f.image, f.depth

    parts = []
    for shot in dp.info.shots:
        frames = shot_frames(shot)
        first = next(frames)
        median = float(np.nanmedian(first[1])) if np.isfinite(first[1]).any() else 1.0
        parts.append(track_shot(itertools.chain([first], frames), k, median, config, on_frame))
    return Trajectory(
        np.concatenate([p.poses for p in parts]),
        np.concatenate([p.valid for p in parts]),
        np.concatenate([p.fitness for p in parts]),
        np.concatenate([p.inliers for p in parts]),
        source="estimate",
    )
