"""``python -m core.bench poses``: camera poses, world-space clouds and TSDF meshes on the TUM fr1/xyz clip.

Imports the clip's measured depth without hole filling (with its intrinsics and lens distortion) into a depth
pass, then measures, in one run:

- odometry: frames/s of :func:`core.geometry.odometry.estimate_pass_poses`; ATE (RMSE after a rigid alignment)
  and RPE over 1 s against the clip's ground-truth poses interpolated at the depth frames' timestamps; frames whose tracking failed;
- fusion: frames 10 and 20 put into frame 0's world with the estimated poses: median distance to frame 0's
  nearest point on their overlap (points within ``--overlap`` of frame 0);
- TSDF (the tracked frames, as ``core.mesh --tsdf`` fuses): integration frames/s, and the surface Chamfer (:func:`core.metrics.surface.surface_chamfer`: area-uniform
  samples of each mesh to the other's triangles, both ways) between the mesh from estimated poses and the one from
  ground-truth poses (the same TSDF parameters), both in frame 0's world ("raw"), and separately after a rigid ICP
  fit of the estimated mesh onto the ground-truth one ("after ICP"; the fit's translation and angle reported).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from core.bench._fixtures import add_tum_argument, default_tum
from core.bench.accuracy import TumClip
from core.depth.import_depth import import_depth, read_intrinsics_file
from core.geometry.fusion import TsdfConfig, nearest_distances, tsdf_mesh
from core.geometry.odometry import OdometryConfig, estimate_pass_poses
from core.geometry.pointcloud import depth_to_points, transform_points
from core.geometry.sequence import CameraOptions, iter_frames
from core.metrics.surface import icp_fit, surface_chamfer
from core.metrics.trajectory import ate_rmse, interpolate_poses, rpe


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
    p.add_argument("--truncation", type=float, default=TsdfConfig.truncation, help="TSDF band in voxels (default %(default)s)")
    p.add_argument("--depth-max", type=float, default=4.0, help="TSDF depth limit in metres (default %(default)s)")
    p.add_argument("--overlap", type=float, default=0.05,
                   help="overlap gate (clouds) and Chamfer cap (meshes) in metres (default %(default)s)")
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

        config = TsdfConfig(voxel=args.voxel, truncation=args.truncation, depth_max=args.depth_max)
        tracked = np.flatnonzero(traj.valid).tolist()  # like core.mesh --tsdf: flagged frames are left out
        t0 = time.perf_counter()
        est_mesh = tsdf_mesh(_posed(dp, camera, tracked, traj.poses), config)
        result["tsdf_fps"] = len(tracked) / (time.perf_counter() - t0)
        result["tsdf_frames"] = len(tracked)
        gt_mesh = tsdf_mesh(_posed(dp, camera, tracked, gt), config)
        raw = surface_chamfer(est_mesh, gt_mesh, cap=args.overlap)
        result["chamfer_median_m"], result["chamfer_overlap_mean_m"] = raw.median, raw.overlap_mean
        result["chamfer_overlap"] = raw.overlap_fraction
        fit = icp_fit(est_mesh, gt_mesh, max_distance=args.overlap)
        est_mesh.apply_transform(fit)
        icp = surface_chamfer(est_mesh, gt_mesh, cap=args.overlap)
        result["icp_chamfer_median_m"], result["icp_chamfer_overlap_mean_m"] = icp.median, icp.overlap_mean
        result["icp_chamfer_overlap"] = icp.overlap_fraction
        result["icp_translation_m"] = float(np.linalg.norm(fit[:3, 3]))
        result["icp_rotation_deg"] = float(np.degrees(np.arccos(np.clip((np.trace(fit[:3, :3]) - 1) / 2, -1, 1))))
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
    print(f"TSDF {result['tsdf_fps']:.2f} frames/s over {result['tsdf_frames']} tracked frames "
          f"(voxel {args.voxel} m, truncation {args.truncation} voxels, "
          f"depth_max {args.depth_max} m, {result['tsdf_vertices']} vertices)")
    cap = 1000 * args.overlap
    print(f"surface Chamfer, mesh from estimated vs ground-truth poses: raw (frame 0's world) median "
          f"{1000 * result['chamfer_median_m']:.2f} mm, mean {1000 * result['chamfer_overlap_mean_m']:.2f} mm on "
          f"{100 * result['chamfer_overlap']:.1f} % within {cap:.0f} mm")
    print(f"                  after a rigid ICP fit ({1000 * result['icp_translation_m']:.1f} mm, "
          f"{result['icp_rotation_deg']:.2f} deg): median {1000 * result['icp_chamfer_median_m']:.2f} mm, mean "
          f"{1000 * result['icp_chamfer_overlap_mean_m']:.2f} mm on {100 * result['icp_chamfer_overlap']:.1f} % "
          f"within {cap:.0f} mm")
    return 0
