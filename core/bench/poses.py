"""``python -m core.bench poses``: camera poses, world-space clouds and TSDF meshes on the TUM fr1/xyz clip.

Imports the clip's measured depth without hole filling (with its intrinsics and lens distortion) into a depth
pass, then measures, in one run:

- odometry: frames/s of :func:`core.geometry.odometry.estimate_pass_poses`; ATE (RMSE after a rigid alignment)
  and RPE over 1 s against the clip's ground-truth poses interpolated at the depth frames' timestamps; frames whose tracking failed;
- fusion: frames 10 and 20 put into frame 0's world with the estimated poses: median distance to frame 0's
  nearest point on their overlap (points within ``--overlap`` of frame 0);
- TSDF: integration frames/s, and the Chamfer median between the mesh from estimated poses and the one from
  ground-truth poses (vertices, both ways), both in frame 0's world, and after moving the estimate by the rigid
  alignment the ATE uses.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import trimesh

from core.bench._fixtures import add_tum_argument, default_tum
from core.bench.accuracy import TumClip
from core.depth.import_depth import import_depth, read_intrinsics_file
from core.geometry.fusion import TsdfConfig, nearest_distances, tsdf_mesh
from core.geometry.odometry import OdometryConfig, estimate_pass_poses
from core.geometry.pointcloud import depth_to_points, transform_points
from core.geometry.sequence import CameraOptions, iter_frames
from core.geometry.poses import CV_TO_GL
from core.metrics.trajectory import align_rigid, ate_rmse, interpolate_poses, rpe


def _posed(dp, camera, indices, poses):
    for f in iter_frames(dp, indices, camera):
        f.pose = poses[f.index]
        yield f


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m core.bench poses", description=__doc__.split("\n\n")[0])
    add_tum_argument(p)
    p.add_argument("--frames", type=int, default=300, help="frames of the clip to use (default %(default)s)")
    p.add_argument("--scale", type=float, default=OdometryConfig.scale, help="odometry image scale (default %(default)s)")
    p.add_argument("--voxel", type=float, default=0.01, help="TSDF voxel in metres (default %(default)s)")
    p.add_argument("--overlap", type=float, default=0.05, help="overlap gate in metres (default %(default)s)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    args = p.parse_args(argv)
    args.data = args.data or default_tum()
    clip = TumClip(args.data)
    n = min(args.frames, len(clip))
    camera = CameraOptions()
    result: dict[str, float] = {"frames": n, "scale": args.scale}
    with tempfile.TemporaryDirectory() as tmp:
        dp = import_depth(args.data / "depth", Path(tmp) / "pass", scale=clip.scale, video=args.data / "rgb.mp4",
                          intrinsics=read_intrinsics_file(args.data / "intrinsics.json"), max_frames=n, fill=False)
        t0 = time.perf_counter()
        traj = estimate_pass_poses(dp, camera, OdometryConfig(scale=args.scale))
        result["odometry_fps"] = n / (time.perf_counter() - t0)
        # the geometry is the depth's: ground truth at the depth frames' times (TUM depth runs ~10 ms before its
        # RGB, up to 17 ms), interpolated from the clip's poses (the mocap's nearest each RGB frame, within 5 ms)
        gt = interpolate_poses(clip.rgb_times, np.stack(clip.poses), clip.depth_times[:n])
        gt = np.linalg.inv(gt[0]) @ gt  # frame 0's world, like the estimate
        result["ate_rmse_m"] = ate_rmse(traj.poses, gt)
        r = rpe(traj.poses, gt, np.asarray(dp.info.timestamps), 1.0)
        result["rpe_1s_m"], result["rpe_1s_deg"] = r.translation, r.rotation_deg
        result["failed_frames"] = int((~traj.valid).sum())
        result["median_fitness"] = float(np.median(traj.fitness))

        clouds = {f.index: transform_points(depth_to_points(f.depth, f.image, f.intrinsics), f.pose).positions
                  for f in _posed(dp, camera, [i for i in (0, 10, 20) if i < n], traj.poses)}
        for i in (10, 20):
            if i in clouds:
                d = nearest_distances(clouds[i], clouds[0])
                result[f"frame{i}_median_nn_m"] = float(np.median(d[d < args.overlap]))
                result[f"frame{i}_overlap"] = float((d < args.overlap).mean())

        config = TsdfConfig(voxel=args.voxel, depth_max=4.0)
        t0 = time.perf_counter()
        est_mesh = tsdf_mesh(_posed(dp, camera, range(n), traj.poses), config)
        result["tsdf_fps"] = n / (time.perf_counter() - t0)
        gt_mesh = tsdf_mesh(_posed(dp, camera, range(n), gt), config)
        chamfer = np.concatenate([nearest_distances(est_mesh.vertices, gt_mesh.vertices),
                                  nearest_distances(gt_mesh.vertices, est_mesh.vertices)])
        result["tsdf_chamfer_median_m"] = float(np.median(chamfer))
        # the same after the rigid alignment the ATE uses (the estimate's world moved onto the ground truth's)
        m, _ = align_rigid(traj.poses[:, :3, 3], gt[:, :3, 3])
        aligned = trimesh.Trimesh(est_mesh.vertices, est_mesh.faces, process=False)
        aligned.apply_transform(CV_TO_GL @ m @ CV_TO_GL)  # the meshes are in glTF axes
        chamfer = np.concatenate([nearest_distances(aligned.vertices, gt_mesh.vertices),
                                  nearest_distances(gt_mesh.vertices, aligned.vertices)])
        result["tsdf_chamfer_median_aligned_m"] = float(np.median(chamfer))
        result["tsdf_vertices"] = len(est_mesh.vertices)
    if args.json:
        print(json.dumps(result))
        return 0
    print(f"TUM fr1/xyz, {n} frames, measured depth without fill, odometry scale {args.scale}")
    print(f"odometry {result['odometry_fps']:.2f} frames/s   ATE {100 * result['ate_rmse_m']:.2f} cm RMSE   "
          f"RPE(1 s) {100 * result['rpe_1s_m']:.2f} cm, {result['rpe_1s_deg']:.2f} deg   "
          f"failed {result['failed_frames']}   median fitness {result['median_fitness']:.2f}")
    for i in (10, 20):
        if f"frame{i}_median_nn_m" in result:
            print(f"frame {i} vs frame 0 in world space: median NN {1000 * result[f'frame{i}_median_nn_m']:.2f} mm "
                  f"on {100 * result[f'frame{i}_overlap']:.0f} % overlap")
    print(f"TSDF {result['tsdf_fps']:.2f} frames/s (voxel {args.voxel} m, {result['tsdf_vertices']} vertices)   "
          f"Chamfer median estimated vs ground-truth poses {1000 * result['tsdf_chamfer_median_m']:.2f} mm "
          f"(frame 0's world), {1000 * result['tsdf_chamfer_median_aligned_m']:.2f} mm (after the ATE alignment)")
    return 0
