"""Operators: estimate depth for the active movie strip (worker process), build the 3D scene, render stereo."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

import bpy

from . import camera_model, export, jobs, preferences, scene_build, stereo_render
from .depth_run import PASS_KEY, DepthRun, Outcome
from .pass_manifest import PassError, read_manifest
from .run_state import RUNS
from .worker_process import WorkerProcess, worker_env

TIMER_S = 0.25


def active_movie_strip(context: bpy.types.Context) -> bpy.types.Strip | None:
    """The active strip of the Sequencer's scene, if it is a movie strip."""
    scene = context.sequencer_scene
    editor = scene.sequence_editor if scene else None
    strip = editor.active_strip if editor else None
    return strip if strip is not None and strip.type == "MOVIE" else None


def strip_time_range(strip: bpy.types.Strip) -> tuple[float, float]:
    """Source-time seconds ``(start, end)`` of the strip's visible part, honouring its trims and offsets."""
    scene = strip.id_data
    fps = strip.fps if strip.fps > 0 else scene.render.fps / scene.render.fps_base  # 0 when the file is missing
    return jobs.strip_time_range(strip.frame_start, strip.frame_final_start, strip.frame_final_end, fps)


def passes_folder() -> Path:
    """Where passes go: ``//depthshot/`` beside a saved .blend, else the add-on's user folder."""
    if bpy.data.filepath:
        return Path(bpy.path.abspath("//depthshot"))
    return Path(bpy.utils.extension_path_user(__package__, path="passes", create=True))


def worker_cwd() -> Path:
    """The worker's fixed working directory: the add-on's user folder (never Blender's current directory)."""
    return Path(bpy.utils.extension_path_user(__package__, create=True))


def depth_job(context: bpy.types.Context, strip: bpy.types.Strip, engine: str | None = None,
              input_size: int | None = None) -> dict:
    """The worker's job for ``strip`` with the panel's settings (``jobs`` describes the fields); ``engine`` and
    ``input_size`` replace the default engine and the panel's Input Size."""
    settings = context.sequencer_scene.depthshot
    prefs = context.preferences.addons[__package__].preferences
    start, end = strip_time_range(strip)
    job = {
        "input": bpy.path.abspath(strip.filepath),
        "model": settings.model,
        "weights": bpy.path.abspath(settings.weights) if settings.weights else None,
        "input_size": settings.input_size if input_size is None else input_size,
        "precision": settings.precision,
        "shots": settings.shots,
        "max_res": settings.max_res or None,
        "start": start,
        "end": end,
    }
    if prefs.device != "auto":
        job["device"] = prefs.device
    if engine is not None:
        job["engine"] = engine
    job["output"] = str(passes_folder() / jobs.pass_name(strip.name, job))
    return job


class StartError(Exception):
    """The depth job cannot start; the message is one line for the user."""


def start_worker(context: bpy.types.Context, job: dict, task: str = "depth", on_done=None) -> DepthRun:
    """Start the worker on ``job`` of ``task`` for the active movie strip; ``StartError`` (nothing started) if it
    cannot. ``on_done(scene, strip, manifest)``: see ``DepthRun``."""
    scene, strip = context.sequencer_scene, active_movie_strip(context)
    if strip is None:
        raise StartError("select a movie strip")
    if RUNS.running(scene.session_uid):
        raise StartError("a depth job of this scene is already running")
    python = preferences.worker_python(context, __package__)
    if python is None:
        raise StartError("set a Worker Python in the Depthshot preferences (or create its environment)")
    try:
        worker = WorkerProcess(python, job, cwd=worker_cwd(), env=worker_env(bpy.app.online_access), task=task)
    except OSError as exc:
        raise StartError(f"cannot start the worker {python}: {exc.strerror}") from None
    return DepthRun(scene, strip.name, worker, on_done=on_done)


def preview_job(context: bpy.types.Context, strip: bpy.types.Strip) -> dict:
    """The Preview Depth job: the streaming engine (``vda-stream``) at the panel's Preview Size over the frames
    around the playhead (Preview Frames of them, within the strip's visible part; 0: the whole visible part)."""
    settings = context.sequencer_scene.depthshot
    job = depth_job(context, strip, engine="vda-stream", input_size=settings.preview_size)
    count = settings.preview_frames
    if count > 0:
        scene = strip.id_data
        fps = strip.fps if strip.fps > 0 else scene.render.fps / scene.render.fps_base
        lo, hi = round(strip.frame_final_start), round(strip.frame_final_end)
        first = min(max(lo, scene.frame_current - count // 2), max(lo, hi - count))
        job["start"], job["end"] = jobs.strip_time_range(strip.frame_start, first, min(hi, first + count), fps)
        job["output"] = str(passes_folder() / jobs.pass_name(strip.name, {k: v for k, v in job.items()
                                                                          if k != "output"}))
    return job


def start_depth_run(context: bpy.types.Context, preview: bool = False) -> DepthRun:
    """Check the active movie strip's depth job (``preview``: Preview Depth's) and start its worker;
    ``StartError`` (nothing started) if it cannot."""
    strip = active_movie_strip(context)
    if strip is None:
        raise StartError("select a movie strip")
    job = preview_job(context, strip) if preview else depth_job(context, strip)
    reason = jobs.check_job(job, context.preferences.addons[__package__].preferences.device)
    if reason is not None:
        raise StartError(reason)
    return start_worker(context, job)


class _WorkerOperator:
    """What Estimate Depth and Load Depth Pass share: a started ``DepthRun`` ticked by a modal timer (or waited for
    in scripts and background mode), reported in one line."""

    def _follow(self, context, run: DepthRun, synchronous: bool) -> set[str]:
        if synchronous or bpy.app.background:
            return self._report(run.wait())
        self._run = run
        self._timer = context.window_manager.event_timer_add(TIMER_S, window=context.window)
        context.window_manager.modal_handler_add(self)
        return {"RUNNING_MODAL"}

    def modal(self, context, event):
        if event.type not in {"TIMER", "ESC"}:
            return {"PASS_THROUGH"}
        outcome = self._run.tick(cancel=event.type == "ESC")  # never raises: a failing tick ends the run
        if outcome.status == "running":
            return {"RUNNING_MODAL"}
        self._remove_timer(context)
        return self._report(outcome)

    def cancel(self, context):
        """Blender ends the operator (a file is loaded, the window closes): stop the worker, go idle."""
        self._run.abort()
        self._remove_timer(context)

    def _remove_timer(self, context) -> None:
        if getattr(self, "_timer", None) is not None:
            context.window_manager.event_timer_remove(self._timer)
            self._timer = None

    def _report(self, outcome: Outcome) -> set[str]:
        level = {"finished": "INFO", "cancelled": "WARNING"}.get(outcome.status, "ERROR")
        self.report({level}, outcome.message)
        return {"FINISHED"} if outcome.status == "finished" else {"CANCELLED"}

    def _start_run(self, context, start, synchronous: bool) -> set[str]:
        """Start the run ``start(context)`` makes and follow it; a ``StartError`` is reported in one line."""
        try:
            run = start(context)
        except StartError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        return self._follow(context, run, synchronous)


class DEPTHSHOT_OT_estimate_depth(_WorkerOperator, bpy.types.Operator):
    """Estimate consistent depth for the active movie strip in a worker process and add it as a muted image strip"""

    bl_idname = "depthshot.estimate_depth"
    bl_label = "Estimate Depth"

    synchronous: bpy.props.BoolProperty(
        name="Synchronous", description="Wait for the worker (background mode and scripts)", options={"SKIP_SAVE"}
    )

    @classmethod
    def poll(cls, context):
        return active_movie_strip(context) is not None and not RUNS.running(context.sequencer_scene.session_uid)

    def execute(self, context):
        return self._start(context, synchronous=True)

    def invoke(self, context, event):
        return self._start(context, synchronous=self.synchronous)

    def _start(self, context, synchronous: bool) -> set[str]:
        return self._start_run(context, start_depth_run, synchronous)


class DEPTHSHOT_OT_preview_depth(_WorkerOperator, bpy.types.Operator):
    """Quick depth around the playhead: the streaming engine (vda-stream) at Preview Size over Preview Frames
    frames, attached like a full pass (Estimate Depth replaces it)"""

    bl_idname = "depthshot.preview_depth"
    bl_label = "Preview Depth"

    synchronous: bpy.props.BoolProperty(options={"SKIP_SAVE"})

    @classmethod
    def poll(cls, context):
        return active_movie_strip(context) is not None and not RUNS.running(context.sequencer_scene.session_uid)

    def execute(self, context):
        return self._start_run(context, lambda c: start_depth_run(c, preview=True), True)

    def invoke(self, context, event):
        return self._start_run(context, lambda c: start_depth_run(c, preview=True), self.synchronous)


def external_depth_source(path: Path) -> Path:
    """What the user picked, as ``import_depth``'s source: a frames folder (for a file inside one), or the file."""
    if path.is_file() and path.suffix.lower() in (".png", ".exr", ".npy"):
        return path.parent
    return path


def start_import_run(context: bpy.types.Context, src: Path, scale: float, kind: str) -> DepthRun:
    """Start the worker importing external depth ``src`` for the active movie strip (``core.depth.import_depth``)."""
    strip = active_movie_strip(context)
    if not src.exists():
        raise StartError(f"no such file or folder: {src}")
    job = {"src": str(src), "scale": scale, "kind": kind, "video": bpy.path.abspath(strip.filepath)}
    job["output"] = str(passes_folder() / f"{jobs.pass_name(strip.name, {**job, 'model': 'import'})}")
    if not jobs.writable_folder(Path(job["output"])):
        raise StartError(f"cannot write the depth pass into {Path(job['output']).parent}")
    return start_worker(context, job, task="import")


def panel_mapping(settings) -> camera_model.DepthMapping:
    """The panel's depth mapping (Near, Far/Near, FOV Override, Metric Scale)."""
    return camera_model.DepthMapping(settings.near, settings.far / settings.near, settings.fov, settings.metric_scale)


def attached_manifest(strip: bpy.types.Strip):
    """The manifest of the pass attached to ``strip``; ``StartError`` when there is none or it is unreadable."""
    folder = scene_build.pass_path(strip)
    if folder is None:
        raise StartError("the strip has no depth pass: Estimate Depth or Load Depth Pass first")
    try:
        return read_manifest(folder)
    except PassError as exc:
        raise StartError(str(exc)) from None


def poses_job(context: bpy.types.Context, strip: bpy.types.Strip, import_file: Path | None = None) -> dict:
    """The worker's ``poses`` job for the strip's pass: estimate (or import ``import_file``) with the panel's depth
    mapping; the TUM trajectory goes beside the pass (``<pass>-poses.txt``) and is recorded in its manifest."""
    settings = context.sequencer_scene.depthshot
    folder = scene_build.pass_path(strip)
    job = {"pass": str(folder), "output": str(folder.with_name(f"{folder.name}-poses.txt")),
           "near": settings.near, "ratio": settings.far / settings.near}
    if import_file is not None:
        job["import"] = str(import_file)
    if settings.fov > 0:
        job["fov"] = settings.fov
    return job


def start_poses_run(context: bpy.types.Context, import_file: Path | None = None) -> DepthRun:
    """Start the worker estimating (or importing) the camera poses of the active strip's pass."""
    strip = active_movie_strip(context)
    if strip is None:
        raise StartError("select a movie strip")
    attached_manifest(strip)
    settings = context.sequencer_scene.depthshot
    if settings.far <= settings.near:
        raise StartError(f"Far ({settings.far:g}) must be beyond Near ({settings.near:g})")
    if import_file is not None and not import_file.is_file():
        raise StartError(f"no such pose file: {import_file}")
    job = poses_job(context, strip, import_file)
    if not jobs.writable_folder(Path(job["output"]).parent) or not jobs.writable_folder(Path(job["pass"])):
        raise StartError(f"cannot write the poses beside the pass {job['pass']}")

    def done(scene, source, manifest) -> str:
        poses = manifest.poses
        if poses is None:
            raise PassError(f"the worker recorded no poses in {manifest.path}")
        return f"camera poses: {len(poses.valid)} frames, {len(poses.flagged)} flagged; press Build 3D"

    return start_worker(context, job, task="poses", on_done=done)


def fused_job(context: bpy.types.Context, strip: bpy.types.Strip, manifest) -> dict:
    """The worker's ``mesh`` job (``core.mesh --tsdf``) for the strip's pass, with the poses its manifest records
    and their depth mapping, so the meshes are in the poses' units; Fused Voxel (scene metres) converted to them.
    The PLY files go to ``<pass>-fused-<key>/``."""
    settings = context.sequencer_scene.depthshot
    poses = manifest.poses
    mapping = panel_mapping(settings)
    job = {"pass": str(manifest.path), "voxel": settings.fused_voxel / scene_build.pose_scale(manifest, mapping),
           "poses": "estimate" if poses.source == "estimate" else poses.file}
    if poses.near is not None:
        job["near"], job["ratio"] = poses.near, poses.ratio
    if settings.fov > 0:
        job["fov"] = settings.fov
    job["output"] = str(manifest.path.with_name(f"{manifest.path.name}-fused-{jobs.job_key(job)}"))
    return job


def start_fused_run(context: bpy.types.Context) -> DepthRun:
    """Start the worker fusing each shot of the active strip's pass into one TSDF mesh; when it is done the meshes
    are imported into the strip's world-space rig (``scene_build.add_fused_meshes``)."""
    strip = active_movie_strip(context)
    if strip is None:
        raise StartError("select a movie strip")
    manifest = attached_manifest(strip)
    if manifest.poses is None:
        raise StartError("the pass records no camera poses: press Estimate Poses or Import Poses… first")
    if manifest.poses.source != "estimate" and not (manifest.poses.file and Path(manifest.poses.file).is_file()):
        raise StartError(f"the pass's imported poses file is missing ({manifest.poses.file}): import them again")
    rig = scene_build.find_rig(context.scene, strip)
    if rig is None or scene_build.rig_object(rig, "world") is None:
        raise StartError("build the rig in world space first: tick World Space (Poses) and press Build 3D")
    settings = context.sequencer_scene.depthshot
    mapping = panel_mapping(settings)
    reason = scene_build.poses_check(manifest, mapping)
    if reason is not None:
        raise StartError(reason)
    job = fused_job(context, strip, manifest)
    if not jobs.writable_folder(Path(job["output"])):
        raise StartError(f"cannot write the fused meshes into {Path(job['output']).parent}")
    rig_scene = context.scene.session_uid
    folder = Path(job["output"])

    def done(scene, source, manifest) -> str:
        target = next((s for s in bpy.data.scenes if s.session_uid == rig_scene), None)
        if target is None:
            raise PassError("the rig's scene was removed")
        try:
            objects = scene_build.add_fused_meshes(target, source, manifest, folder, mapping)
        except scene_build.SceneError as exc:
            raise PassError(str(exc)) from None
        vertices = sum(len(o.data.vertices) for o in objects)
        return f"fused mesh: {len(objects)} shot{'s' if len(objects) != 1 else ''}, {vertices} vertices"

    return start_worker(context, job, task="mesh", on_done=done)


class _PassWorkerOperator(_WorkerOperator):
    """A worker run on the active strip's attached pass (poses, fused mesh): ``start_run(context)`` starts it
    (execute: followed to the end; invoke: in the background unless ``synchronous``)."""

    synchronous: bpy.props.BoolProperty(options={"SKIP_SAVE"})

    @classmethod
    def poll(cls, context):
        strip = active_movie_strip(context)
        return strip is not None and PASS_KEY in strip and not RUNS.running(context.sequencer_scene.session_uid)

    def start_run(self, context) -> DepthRun:
        raise NotImplementedError

    def execute(self, context):
        return self._start_run(context, self.start_run, True)

    def invoke(self, context, event):
        return self._start_run(context, self.start_run, self.synchronous)


class DEPTHSHOT_OT_estimate_poses(_PassWorkerOperator, bpy.types.Operator):
    """Estimate the camera pose of every frame of the strip's pass in the worker (Open3D RGB-D odometry, per shot)
    and record them in the pass, for Build 3D in world space"""

    bl_idname = "depthshot.estimate_poses"
    bl_label = "Estimate Poses"

    def start_run(self, context) -> DepthRun:
        return start_poses_run(context)


class DEPTHSHOT_OT_import_poses(_PassWorkerOperator, bpy.types.Operator):
    """Import camera poses for the strip's pass (a TUM trajectory, COLMAP images.txt, or a JSON list of 4x4
    world-from-camera matrices) and record them in the pass"""

    bl_idname = "depthshot.import_poses"
    bl_label = "Import Poses…"

    filepath: bpy.props.StringProperty(subtype="FILE_PATH", options={"SKIP_SAVE"})

    def invoke(self, context, event):
        context.window_manager.fileselect_add(self)
        return {"RUNNING_MODAL"}

    def execute(self, context):
        path = Path(bpy.path.abspath(self.filepath))
        return self._start_run(context, lambda c: start_poses_run(c, path), self.synchronous)


class DEPTHSHOT_OT_fused_mesh(_PassWorkerOperator, bpy.types.Operator):
    """Fuse each shot of the strip's pass into one coloured mesh (Open3D TSDF, with the pass's poses) in the worker
    and add it to the world-space rig as a static object"""

    bl_idname = "depthshot.fused_mesh"
    bl_label = "Fused Mesh"

    def start_run(self, context) -> DepthRun:
        return start_fused_run(context)


class DEPTHSHOT_OT_load_depth_pass(_WorkerOperator, bpy.types.Operator):
    """Attach a depth pass to the active movie strip: an existing depthshot pass (its folder or depth_pass.json), or
    external depth (a folder of 16-bit PNG/EXR/npy frames, an .npz, a depthshot export) imported by the worker"""

    bl_idname = "depthshot.load_depth_pass"
    bl_label = "Load Depth Pass…"

    filepath: bpy.props.StringProperty(subtype="FILE_PATH", options={"SKIP_SAVE"})
    scale: bpy.props.FloatProperty(
        name="Scale", description="External depth: file value / scale = depth (a Kinect's 16-bit PNG: 5000)",
        default=1.0, min=1e-9,
    )
    kind: bpy.props.EnumProperty(
        name="Kind",
        items=[("metric_depth", "Metric Depth", "metres along the optical axis"),
               ("relative_inverse_depth", "Relative Inverse Depth", "larger is nearer, unknown scale")],
        default="metric_depth",
    )
    synchronous: bpy.props.BoolProperty(options={"SKIP_SAVE"})

    @classmethod
    def poll(cls, context):
        return active_movie_strip(context) is not None and not RUNS.running(context.sequencer_scene.session_uid)

    def invoke(self, context, event):
        context.window_manager.fileselect_add(self)
        return {"RUNNING_MODAL"}

    def execute(self, context):
        path = Path(bpy.path.abspath(self.filepath))
        folder = path.parent if path.name == "depth_pass.json" else path
        if (folder / "depth_pass.json").is_file():  # an existing pass: attached as it is
            try:
                manifest = read_manifest(folder)
            except PassError as exc:
                self.report({"ERROR"}, str(exc))
                return {"CANCELLED"}
            strip = active_movie_strip(context)
            scene_build.attach_pass(context.sequencer_scene, strip, manifest)
            visible = strip.frame_final_duration
            if manifest.frame_count != visible:
                self.report({"WARNING"}, f"the pass has {manifest.frame_count} frames, the strip shows {visible}")
            else:
                self.report({"INFO"}, f"depth pass: {manifest.path}")
            return {"FINISHED"}
        try:
            run = start_import_run(context, external_depth_source(path), self.scale, self.kind)
        except StartError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        return self._follow(context, run, self.synchronous)


class DEPTHSHOT_OT_cancel(bpy.types.Operator):
    """Stop the running depth worker (the same job resumes where it stopped)"""

    bl_idname = "depthshot.cancel"
    bl_label = "Cancel"

    @classmethod
    def poll(cls, context):
        return context.sequencer_scene is not None and RUNS.running(context.sequencer_scene.session_uid)

    def execute(self, context):
        RUNS.get(context.sequencer_scene.session_uid).cancel_requested = True
        return {"FINISHED"}


@contextmanager
def _removed_if_failing():
    """Whatever Blender data the block creates is removed again if it raises: nothing is left half-made."""
    kinds = ("collections", "objects", "meshes", "materials", "cameras", "images", "node_groups", "actions")
    before = {kind: set(getattr(bpy.data, kind)) for kind in kinds}
    try:
        yield
    except Exception:
        for kind in kinds:
            collection = getattr(bpy.data, kind)
            for item in [i for i in collection if i not in before[kind]]:
                collection.remove(item)
        raise


class DEPTHSHOT_OT_build_scene(bpy.types.Operator):
    """Build or update the active strip's rig: its camera and the chosen results (mesh, point cloud, stereo output)"""

    bl_idname = "depthshot.build_scene"
    bl_label = "Build 3D"
    bl_options = {"REGISTER", "UNDO"}

    @classmethod
    def poll(cls, context):
        strip = active_movie_strip(context)
        return strip is not None and PASS_KEY in strip

    def execute(self, context):
        strip = active_movie_strip(context)
        settings = context.sequencer_scene.depthshot
        if not (settings.build_mesh or settings.build_points or settings.build_stereo):
            self.report({"ERROR"}, "tick at least one result (Displaced Mesh, Point Cloud or Stereo Rig)")
            return {"CANCELLED"}
        try:
            manifest = read_manifest(scene_build.pass_path(strip))
        except PassError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        reason = scene_build.build_check(strip, manifest)
        if reason is not None:
            self.report({"ERROR"}, reason)
            return {"CANCELLED"}
        if settings.far <= settings.near:
            self.report({"ERROR"}, f"Far ({settings.far:g}) must be beyond Near ({settings.near:g})")
            return {"CANCELLED"}
        mapping = panel_mapping(settings)
        world_space = settings.world_space and manifest.poses is not None
        reason = scene_build.poses_check(manifest, mapping) if world_space else None
        if reason is not None:
            self.report({"ERROR"}, reason)
            return {"CANCELLED"}
        with _removed_if_failing():
            objects = scene_build.build_scene(
                context.scene,
                strip,
                manifest,
                mesh=settings.build_mesh,
                points=settings.build_points,
                stereo=settings.build_stereo,
                resolution=(settings.grid_x, settings.grid_y),
                mapping=mapping,
                edge_angle=settings.edge_angle,
                world_space=world_space,
            )
        message = f"built {', '.join(o.name for o in objects)}"
        if world_space:
            flagged = manifest.poses.flagged
            message += f"; camera keyed from {len(manifest.poses.valid)} poses" + (
                f" ({len(flagged)} flagged frames hold their shot's last valid pose, first: {flagged[0]})"
                if flagged else "")
        self.report({"WARNING"} if world_space and manifest.poses.flagged else {"INFO"}, message)
        return {"FINISHED"}


class DEPTHSHOT_OT_render_stereo(bpy.types.Operator):
    """Render the strip's frames through its rig in stereo to a side-by-side video and add it to the Sequencer"""

    bl_idname = "depthshot.render_stereo"
    bl_label = "Render Stereo"

    @classmethod
    def poll(cls, context):
        strip = active_movie_strip(context)
        return strip is not None and PASS_KEY in strip and scene_build.find_rig(context.scene, strip) is not None

    def execute(self, context):
        return self._start(context, invoke=False)

    def invoke(self, context, event):
        return self._start(context, invoke=not bpy.app.background)

    def _start(self, context, invoke: bool) -> set[str]:
        scene, strip = context.scene, active_movie_strip(context)
        camera = scene_build.rig_object(scene_build.find_rig(scene, strip), "camera")
        if camera is None:
            self.report({"ERROR"}, f"the rig of {strip.name!r} has no camera: press Build 3D")
            return {"CANCELLED"}
        job = stereo_render.StereoRender(scene, context.sequencer_scene, strip, camera)
        if not jobs.writable_folder(job.output.parent):
            self.report({"ERROR"}, f"cannot write the stereo video into {job.output.parent}")
            return {"CANCELLED"}
        warning = stereo_render.fps_warning(scene, strip)
        if warning:
            self.report({"WARNING"}, warning)
        try:
            job.run(invoke)
        except Exception as exc:  # the render itself failed (e.g. the disk filled up); settings are restored
            self.report({"ERROR"}, f"Render Stereo failed: {job.error or exc}")
            return {"CANCELLED"}
        if invoke:
            self.report({"INFO"}, f"rendering {job.output.name} (Esc cancels)")
            return {"FINISHED"}
        if job.error:
            self.report({"ERROR"}, f"Render Stereo failed: {job.error}")
            return {"CANCELLED"}
        self.report({"INFO"}, f"stereo video: {job.output}")
        return {"FINISHED"}


class DEPTHSHOT_OT_export_geometry(bpy.types.Operator):
    """Export the active strip's built mesh (or point cloud) over its frames: a PLY per frame, or one Alembic file"""

    bl_idname = "depthshot.export_geometry"
    bl_label = "Export Geometry"

    format: bpy.props.EnumProperty(
        name="Format", items=[("PLY", "PLY Sequence", "one .ply per frame, in a folder"),
                              ("ABC", "Alembic", "one animated .abc file")], default="PLY",
    )

    @classmethod
    def poll(cls, context):
        strip = active_movie_strip(context)
        return strip is not None and PASS_KEY in strip and scene_build.find_rig(context.scene, strip) is not None

    def execute(self, context):
        scene, strip = context.scene, active_movie_strip(context)
        rig = scene_build.find_rig(scene, strip)
        role, obj = next(((r, o) for r in ("mesh", "points") if (o := scene_build.rig_object(rig, r))), (None, None))
        if obj is None:
            self.report({"ERROR"}, f"the rig of {strip.name!r} has no mesh or point cloud: tick one and Build 3D")
            return {"CANCELLED"}
        out = export.output_path(strip, role, self.format)
        if not jobs.writable_folder(out.parent):
            self.report({"ERROR"}, f"cannot write into {out.parent}")
            return {"CANCELLED"}
        try:
            out = export.export_geometry(scene, strip, obj, role, self.format)
        except (RuntimeError, OSError) as exc:
            self.report({"ERROR"}, f"export failed: {str(exc).strip().splitlines()[-1] if str(exc).strip() else exc}")
            return {"CANCELLED"}
        self.report({"INFO"}, f"exported {out}")
        return {"FINISHED"}


CLASSES = (
    DEPTHSHOT_OT_estimate_depth,
    DEPTHSHOT_OT_preview_depth,
    DEPTHSHOT_OT_estimate_poses,
    DEPTHSHOT_OT_import_poses,
    DEPTHSHOT_OT_fused_mesh,
    DEPTHSHOT_OT_load_depth_pass,
    DEPTHSHOT_OT_cancel,
    DEPTHSHOT_OT_build_scene,
    DEPTHSHOT_OT_render_stereo,
    DEPTHSHOT_OT_export_geometry,
)
