"""Scene builders: the depth pass as an image strip, a displaced mesh, a point cloud and a stereo camera rig."""

from __future__ import annotations

import math
from pathlib import Path

import bpy

from . import camera_model, geometry_nodes
from .pass_manifest import PassManifest

PASS_KEY = "depthshot_pass"  # custom property on the movie strip: its depth pass folder
COLLECTION_NAME = "Depthshot"
STEREO_INTEROCULAR_FRACTION = 0.03  # interocular distance as a fraction of the convergence distance


def stored_path(path: str | Path) -> str:
    """``path`` as Blender should keep it: ``//``-relative once the .blend is saved, so the project folder can move."""
    if bpy.data.filepath:
        try:
            return bpy.path.relpath(str(path))
        except ValueError:  # another drive (Windows)
            return str(path)
    return str(path)


def depth_strip_name(source: bpy.types.Strip) -> str:
    """The name of ``source``'s depth strip."""
    return f"{source.name} depth"


def pass_lead(source: bpy.types.Strip, manifest: PassManifest) -> int:
    """Source frames from the strip's first source frame to the pass's frame 0: the pass's start time (a pass
    of a time window, e.g. a preview around the playhead), else the strip's visible start when the pass has none."""
    if manifest.start_s is not None and manifest.fps > 0:
        return round(manifest.start_s * manifest.fps)
    return round(source.frame_final_start - source.frame_start)


def add_depth_strip(scene: bpy.types.Scene, source: bpy.types.Strip, manifest: PassManifest) -> bpy.types.Strip:
    """The pass's PNG sequence as a muted image strip in the first free channel above ``source``, frame-aligned.

    Muted, so the edit still shows the footage (unmute it to see the depth); one per source, replaced in place
    when the pass changes (same name and channel).
    """
    strips = scene.sequence_editor.strips
    name = depth_strip_name(source)
    old = strips.get(name)
    frame_start = round(source.frame_start) + pass_lead(source, manifest)
    end = frame_start + manifest.frame_count
    if old is not None:
        channel = old.channel
        strips.remove(old)
    else:
        channel = source.channel + 1
        while any(s.channel == channel and s.frame_final_start < end and s.frame_final_end > frame_start for s in strips):
            channel += 1
    first = manifest.frame_path(0)
    strip = strips.new_image(name, stored_path(first), channel, frame_start)
    for i in range(1, manifest.frame_count):
        strip.elements.append(manifest.frame_path(i).name)
    strip.colorspace_settings.name = "Non-Color"
    strip.mute = True
    return strip


def attach_pass(scene: bpy.types.Scene, source: bpy.types.Strip, manifest: PassManifest) -> bpy.types.Strip:
    """Record ``manifest``'s pass on ``source`` (custom property ``PASS_KEY``) and show it as its depth strip."""
    source[PASS_KEY] = stored_path(manifest.path)
    return add_depth_strip(scene, source, manifest)


def pass_path(source: bpy.types.Strip) -> Path | None:
    """The absolute folder of the pass attached to ``source``, or None."""
    value = source.get(PASS_KEY)
    return Path(bpy.path.abspath(value)) if value else None


def _depth_image(manifest: PassManifest) -> bpy.types.Image:
    image = bpy.data.images.load(stored_path(manifest.frame_path(0)), check_existing=True)
    image.source = "SEQUENCE"
    image.colorspace_settings.name = "Non-Color"
    return image


def drive(owner: bpy.types.ID, path: str, source: bpy.types.Strip, strip_property: str, add: int) -> None:
    """Drive ``owner``'s property ``path`` with ``source.<strip_property> + add`` (a simple expression, which
    Blender evaluates even with Python scripts disabled); an older driver of the same path is replaced."""
    owner.driver_remove(path)
    driver = owner.driver_add(path).driver
    driver.type = "SCRIPTED"
    var = driver.variables.new()
    var.name, var.type = "v", "SINGLE_PROP"
    var.targets[0].id_type = "SCENE"
    var.targets[0].id = source.id_data
    var.targets[0].data_path = f'sequence_editor.strips_all["{source.name}"].{strip_property}'
    driver.expression = f"v + {add}" if add else "v"


def _footage_image(source: bpy.types.Strip) -> bpy.types.Image:
    """The strip's movie as an image (one per file, shared by the footage material and the background plate)."""
    movie = bpy.data.images.load(source.filepath, check_existing=True)  # the strip's own (relative) path
    movie.source = "MOVIE"
    return movie


def _place_movie(user: bpy.types.ImageUser, source: bpy.types.Strip) -> None:
    """Movie frame #1 (source frame 0) at the strip's ``frame_start``; image users are not animatable, so
    ``sync_footage`` keeps it there when the strip moves."""
    user.frame_offset = 0
    user.frame_duration = max(1, source.frame_duration)
    user.use_auto_refresh = True
    user.frame_start = round(source.frame_start)


def _footage_material(source: bpy.types.Strip, frame_count: int) -> bpy.types.Material:
    """Emission material showing the movie frame of the current scene frame through the grid's UVs; one per strip,
    rebuilt in place."""
    name = f"{source.name} footage"
    material = bpy.data.materials.get(name) or bpy.data.materials.new(name)
    tree = material.node_tree
    tree.nodes.clear()
    uv = tree.nodes.new("ShaderNodeAttribute")
    uv.attribute_name = geometry_nodes.UV_ATTRIBUTE
    tex = tree.nodes.new("ShaderNodeTexImage")
    tex.name = FOOTAGE_NODE
    tex.image = _footage_image(source)
    tex.interpolation = "Closest"
    tex.extension = "EXTEND"
    _place_movie(tex.image_user, source)
    material[FOOTAGE_KEY] = source.name
    emit = tree.nodes.new("ShaderNodeEmission")
    out = tree.nodes.new("ShaderNodeOutputMaterial")
    tree.links.new(uv.outputs["Vector"], tex.inputs["Vector"])
    tree.links.new(tex.outputs["Color"], emit.inputs["Color"])
    tree.links.new(emit.outputs[0], out.inputs["Surface"])
    return material


def _background_plate(data: bpy.types.Camera, source: bpy.types.Strip) -> None:
    """The footage as the camera's background image (the plate seen through the camera view), frame-aligned with
    the strip like the footage texture; one, replaced in place."""
    data.background_images.clear()
    plate = data.background_images.new()
    plate.source = "IMAGE"
    plate.image = _footage_image(source)
    plate.frame_method = "FIT"  # the camera has the footage's aspect
    _place_movie(plate.image_user, source)
    data.show_background_images = True
    data[FOOTAGE_KEY] = source.name


def sync_footage(scene: bpy.types.Scene) -> None:
    """Put each footage texture's and background plate's first movie frame at its strip's ``frame_start`` (after
    the strip was moved)."""
    editor = scene.sequence_editor
    if editor is None:
        return
    users = []
    for material in bpy.data.materials:
        node = material.node_tree.nodes.get(FOOTAGE_NODE) if material.get(FOOTAGE_KEY) and material.node_tree else None
        if node is not None:
            users.append((material[FOOTAGE_KEY], node.image_user))
    for camera in bpy.data.cameras:
        if camera.get(FOOTAGE_KEY):
            users += [(camera[FOOTAGE_KEY], plate.image_user) for plate in camera.background_images]
    for name, user in users:
        strip = editor.strips_all.get(name)
        if strip is not None and user.frame_start != round(strip.frame_start):
            user.frame_start = round(strip.frame_start)


def shift_keys(obj: bpy.types.Object, frames: int) -> None:
    """Move every key of ``obj``'s action (with its handles) ``frames`` scene frames later (earlier if < 0)."""
    for curve in _fcurves(obj):
        points = curve.keyframe_points
        for attr in ("co", "handle_left", "handle_right"):
            values = [0.0] * (2 * len(points))
            points.foreach_get(attr, values)
            values[0::2] = [t + frames for t in values[0::2]]
            points.foreach_set(attr, values)
        curve.update()


def sync_keys(scene: bpy.types.Scene) -> None:
    """Keep the per-frame keys of each rig (the posed camera, the fused meshes' shot visibility) on their strip:
    when the strip's ``frame_start`` is no longer the one they were keyed for (``KEYED_KEY``), shift them by the
    difference, so pass frame k stays at strip frame k (like the geometry, whose drivers follow the strip)."""
    editor = scene.sequence_editor
    if editor is None:
        return
    for rig in scene.collection.children_recursive:
        strip = editor.strips_all.get(rig.get(RIG_KEY, ""))
        if strip is None:
            continue
        for obj in rig.objects:
            keyed = obj.get(KEYED_KEY)
            if keyed is None or obj.animation_data is None or obj.animation_data.action is None:
                continue
            frames = round(strip.frame_start) - keyed
            if frames:
                shift_keys(obj, frames)
                obj[KEYED_KEY] = keyed + frames


# -- the rig: one collection per movie strip, found again by its custom property ------------------------------------

FOOTAGE_NODE = "Depthshot Footage"
FOOTAGE_KEY = "depthshot_footage_of"  # on a footage material or a plate's camera: the name of its movie strip
RIG_KEY = "depthshot_strip"  # on the rig's collection: the name of the movie strip it was built for
ROLE_KEY = "depthshot_role"  # on each rig object: "camera", "mesh", "points", "world" or "fused"
KEYED_KEY = "depthshot_keyed_at"  # on a rig object keyed per pass frame: the strip's frame_start its keys are for
_RENDERED_TYPES = {"MESH", "CURVE", "SURFACE", "META", "FONT", "CURVES", "POINTCLOUD", "VOLUME", "GREASEPENCIL"}


def find_rig(scene: bpy.types.Scene, source: bpy.types.Strip) -> bpy.types.Collection | None:
    """The rig collection of ``source`` in ``scene``, if Build 3D made one."""
    return next((c for c in scene.collection.children_recursive if c.get(RIG_KEY) == source.name), None)


def rig_object(rig: bpy.types.Collection, role: str) -> bpy.types.Object | None:
    """The rig's object of ``role``, if it has one."""
    return next((o for o in rig.objects if o.get(ROLE_KEY) == role), None)


def _occupied(scene: bpy.types.Scene, rig: bpy.types.Collection) -> list[tuple[tuple, tuple]]:
    """World bounding boxes of the scene's visible rendered objects outside ``rig``."""
    from mathutils import Vector

    boxes = []
    for obj in scene.objects:
        if obj.type not in _RENDERED_TYPES or obj.name in rig.all_objects or not obj.visible_get():
            continue
        corners = [obj.matrix_world @ Vector(c) for c in obj.bound_box]
        boxes.append((tuple(min(c[k] for c in corners) for k in range(3)),
                      tuple(max(c[k] for c in corners) for k in range(3))))
    return boxes


def _shots(manifest: PassManifest) -> list[tuple[float, float, float, float]]:
    return [(s.lo, s.hi, s.p2, s.p98) for s in manifest.shots]


def _update_camera(data: bpy.types.Camera, manifest: PassManifest, mapping: camera_model.DepthMapping) -> None:
    """The pass's field of view and aspect, clip range around its geometry, off-axis stereo converging at the
    pass's robust nearest depth (so almost nothing sits in front of the screen), pivot at the centre."""
    cam = mapping.camera(manifest.width, manifest.height, manifest.intrinsics)
    data.sensor_fit = "HORIZONTAL"
    data.sensor_width = camera_model.SENSOR_WIDTH_MM
    data.lens = cam.lens_mm
    data.shift_x, data.shift_y = cam.shift
    far = mapping.farthest(manifest.kind, _shots(manifest))
    nearest = mapping.nearest(manifest.kind, _shots(manifest))
    data.clip_start = nearest * 0.1
    data.clip_end = far * 10.0
    data.stereo.convergence_mode = "OFFAXIS"
    data.stereo.convergence_distance = nearest
    data.stereo.interocular_distance = nearest * STEREO_INTEROCULAR_FRACTION
    data.stereo.pivot = "CENTER"


def _lut_mesh(name: str, manifest: PassManifest) -> bpy.types.Mesh:
    """One vertex per pass frame at ``(lo, hi, 0)`` of its shot: what the node group looks up per frame."""
    mesh = bpy.data.meshes.new(name)
    ranges = manifest.frame_ranges()
    mesh.vertices.add(len(ranges))
    mesh.vertices.foreach_set("co", [c for lo, hi in ranges for c in (lo, hi, 0.0)])
    mesh.update()
    return mesh


def _holding(rig, obj, name: str, mesh):
    """``obj`` now holding ``mesh`` (``obj`` None: a new object ``name`` linked into the ``rig`` collection); the
    mesh it held before is removed once nothing uses it."""
    if obj is None:
        obj = bpy.data.objects.new(name, mesh)
        rig.objects.link(obj)
    else:
        old, obj.data = obj.data, mesh
        if old.users == 0:
            bpy.data.meshes.remove(old)
    return obj


def _depth_object(
    rig: bpy.types.Collection,
    role: str,
    camera: bpy.types.Object,
    manifest: PassManifest,
    source: bpy.types.Strip,
    material: bpy.types.Material,
    *,
    resolution: tuple[int, int],
    mapping: camera_model.DepthMapping,
    edge_angle: float,
) -> bpy.types.Object:
    """The rig's mesh or point cloud object (made, or updated in place): the depth surface node group on a lookup
    mesh of this pass, parented to ``camera``. Its first frame and visible range are driven by the strip, so moving
    or trimming the strip moves the geometry in time (it is empty outside the strip)."""
    name = f"{source.name} {role}"
    obj = _holding(rig, rig_object(rig, role), name, _lut_mesh(f"{name} ranges", manifest))
    obj[ROLE_KEY] = role
    obj.parent = camera
    modifier = obj.modifiers.get("Depthshot") or obj.modifiers.new("Depthshot", "NODES")
    modifier.node_group = geometry_nodes.build_group()
    cam = mapping.camera(manifest.width, manifest.height, manifest.intrinsics)
    near = mapping.nearest(manifest.kind, _shots(manifest))
    geometry_nodes.set_inputs(
        modifier,
        {
            "Depth": _depth_image(manifest),
            "First Frame": round(source.frame_start) + pass_lead(source, manifest),
            "Frame Count": manifest.frame_count,
            "Width": manifest.width,
            "Height": manifest.height,
            "fx": cam.fx,
            "fy": cam.fy,
            "cx": cam.cx,
            "cy": cam.cy,
            "Metric": manifest.kind == "metric_depth",
            "Near": mapping.near,
            "Ratio": mapping.ratio,
            "Metric Scale": mapping.metric_scale,
            "Resolution X": resolution[0],
            "Resolution Y": resolution[1],
            "Points": role == "points",
            "Point Radius": near * 2.0 / max(resolution),
            "Material": material,
            "Max Edge Angle": edge_angle,
        },
    )
    # pass frame 0 is source frame ``lead``: keep that offset from frame_start
    lead = pass_lead(source, manifest)
    for name, prop, add in (("First Frame", "frame_start", lead), ("Strip Start", "frame_final_start", 0),
                            ("Strip End", "frame_final_end", 0)):
        drive(obj, geometry_nodes.input_path(modifier, name), source, prop, add)
    obj.update_tag()
    return obj


def build_check(source: bpy.types.Strip, manifest: PassManifest) -> str | None:
    """The one-line reason Build 3D cannot use ``source`` and its pass, or None."""
    video = Path(bpy.path.abspath(source.filepath))
    if not video.is_file():
        return f"the strip's video is missing: {video}"
    missing = manifest.missing_frames()
    if missing:
        return (f"the depth pass {manifest.path} lacks {len(missing)} of its {manifest.frame_count} frames "
                f"(first: {manifest.frame_path(missing[0]).name}); estimate depth again")
    return None


def poses_check(manifest: PassManifest, mapping: camera_model.DepthMapping) -> str | None:
    """The one-line reason the pass's poses cannot place this rig's geometry, or None: relative poses are measured
    in the depth mapping they were estimated with, so its Far/Near ratio must be the panel's (Near only scales)."""
    poses = manifest.poses
    if poses is None or poses.ratio is None or math.isclose(poses.ratio, mapping.ratio, rel_tol=1e-6):
        return None
    return (f"the pass's camera poses were made for Far/Near = {poses.ratio:g}, the panel has {mapping.ratio:g}: "
            f"set Far to {mapping.near * poses.ratio:g} (or untick World Space)")


def pose_scale(manifest: PassManifest, mapping: camera_model.DepthMapping) -> float:
    """Factor from the poses' translation units to the rig's metres: ``Near / near`` of the poses for relative
    depth (the mapping is linear in near), the Metric Scale for metric depth."""
    poses = manifest.poses
    if manifest.kind == "metric_depth" or poses is None or poses.near is None:
        return mapping.metric_scale
    return mapping.near / poses.near


def _world_root(rig: bpy.types.Collection, source: bpy.types.Strip, camera: bpy.types.Object) -> bpy.types.Object:
    """The rig's world (an empty: the shot's world origin, where the first camera of an estimated shot sits); made
    where the camera stood, so a rig the user moved stays there."""
    root = rig_object(rig, "world")
    if root is None:
        root = bpy.data.objects.new(f"{source.name} world", None)
        root[ROLE_KEY] = "world"
        root.empty_display_type = "ARROWS"
        rig.objects.link(root)
        root.location = camera.location.copy()  # the camera has no parent yet
    return root


def _clear_animation(obj: bpy.types.Object) -> None:
    """Remove ``obj``'s animation and its action when nothing else uses it."""
    action = obj.animation_data.action if obj.animation_data else None
    obj.animation_data_clear()
    if action is not None and action.users == 0:
        bpy.data.actions.remove(action)


def _fcurves(obj: bpy.types.Object):
    """The F-curves of ``obj``'s action (its slot's channel bag)."""
    from bpy_extras import anim_utils

    data = obj.animation_data
    return anim_utils.action_get_channelbag_for_slot(data.action, data.action_slot).fcurves


def key_camera(camera: bpy.types.Object, matrices: list, first_frame: int, scale: float,
               shot_ends: list[int] = ()) -> None:
    """Key ``camera``'s local transform at scene frames ``first_frame + k`` to ``matrices[k]`` (16 numbers,
    row-major, Blender camera axes), translations times ``scale``; linear between frames, constant over a cut
    (``shot_ends``: the first frame index of each next shot). Earlier keys are replaced."""
    from mathutils import Matrix

    _clear_animation(camera)
    camera.rotation_mode = "QUATERNION"
    locations, rotations, previous = [], [], None
    for values in matrices:
        m = Matrix([values[r * 4:(r + 1) * 4] for r in range(4)])
        q = m.to_quaternion().normalized()
        if previous is not None and previous.dot(q) < 0:  # the nearer of q and -q: no half turn between keys
            q.negate()
        previous = q
        locations.append(m.translation * scale)
        rotations.append(q)
    camera.location, camera.rotation_quaternion = locations[0], rotations[0]
    camera.keyframe_insert("location", frame=first_frame)
    camera.keyframe_insert("rotation_quaternion", frame=first_frame)
    camera.animation_data.action.name = f"{camera.name} poses"
    cuts = {first_frame + e - 1 for e in shot_ends}
    for curve in _fcurves(camera):
        series = locations if curve.data_path == "location" else rotations
        points = curve.keyframe_points
        points.add(len(series) - 1)
        points.foreach_set("co", [c for k, v in enumerate(series) for c in (first_frame + k, v[curve.array_index])])
        for point in points:
            point.interpolation = "CONSTANT" if round(point.co[0]) in cuts else "LINEAR"
        curve.update()


def _unkey_camera(rig: bpy.types.Collection, camera: bpy.types.Object) -> None:
    """Back to a static camera-space rig: no keys, no world empty; the camera where the world's origin was."""
    root = rig_object(rig, "world")
    if root is None and camera.animation_data is None:
        return
    _clear_animation(camera)
    location = (root or camera).location.copy()
    camera.parent = None
    camera.rotation_mode = "XYZ"
    camera.rotation_euler = (math.pi / 2.0, 0.0, 0.0)
    camera.location = location
    if root is not None:
        bpy.data.objects.remove(root)


def build_scene(
    scene: bpy.types.Scene,
    source: bpy.types.Strip,
    manifest: PassManifest,
    *,
    mesh: bool,
    points: bool,
    stereo: bool,
    resolution: tuple[int, int],
    mapping: camera_model.DepthMapping = camera_model.DepthMapping(),
    edge_angle: float = camera_model.DEFAULT_EDGE_ANGLE_DEG,
    world_space: bool = True,
) -> list[bpy.types.Object]:
    """Build (or update in place) ``source``'s rig: a camera plus the chosen results; returns the objects touched.

    One rig per strip: the collection "Depthshot <strip>" with "<strip> camera", "<strip> mesh", "<strip> points".
    A new rig is placed beside the scene's visible geometry so nothing hides its view; a rig the user moved stays.
    With ``world_space`` and camera poses in the pass, the camera is keyed per frame from them under the empty
    "<strip> world" (flagged frames hold the shot's last valid pose; ``sync_keys`` moves the keys when the strip
    moves) and the geometry, parented to the camera, sits in the shot's world at every frame; else the camera is
    static and the geometry in its space.
    The scene's camera, resolution and multiview output change only for ``stereo``. Results not chosen are left as
    they are. Check ``build_check`` (and ``poses_check`` for world space) first.
    """
    rig = find_rig(scene, source)
    new_rig = rig is None
    if new_rig:
        rig = bpy.data.collections.new(f"{COLLECTION_NAME} {source.name}")
        rig[RIG_KEY] = source.name
        scene.collection.children.link(rig)
    camera = rig_object(rig, "camera")
    if camera is None:
        data = bpy.data.cameras.new(f"{source.name} camera")
        camera = bpy.data.objects.new(f"{source.name} camera", data)
        camera[ROLE_KEY] = "camera"
        camera.rotation_euler = (math.pi / 2.0, 0.0, 0.0)  # look along +Y, z up
        rig.objects.link(camera)
    _update_camera(camera.data, manifest, mapping)
    _background_plate(camera.data, source)
    if new_rig:
        half_width = mapping.farthest(manifest.kind, _shots(manifest)) * math.tan(camera.data.angle_x / 2.0)
        margin = mapping.nearest(manifest.kind, _shots(manifest))
        camera.location = camera_model.rig_location(_occupied(scene, rig), half_width, margin=margin)
    built = [camera]
    if world_space and manifest.poses is not None:
        root = _world_root(rig, source, camera)
        camera.parent = root
        camera.matrix_parent_inverse.identity()
        shot_ends = [s.end for s in manifest.shots[:-1]]
        key_camera(camera, manifest.poses.held(), round(source.frame_start) + pass_lead(source, manifest),
                   pose_scale(manifest, mapping), shot_ends)
        camera[KEYED_KEY] = round(source.frame_start)  # sync_keys moves the keys with the strip
        camera["depthshot_flagged_frames"] = manifest.poses.flagged
        built.insert(0, root)
    else:
        _unkey_camera(rig, camera)
        for key in ("depthshot_flagged_frames", KEYED_KEY):
            if key in camera:
                del camera[key]
    material = _footage_material(source, manifest.frame_count)
    for role, wanted in (("mesh", mesh), ("points", points)):
        if wanted:
            built.append(_depth_object(rig, role, camera, manifest, source, material, resolution=resolution,
                                       mapping=mapping, edge_angle=edge_angle))
    if stereo:
        scene.camera = camera
        scene.render.resolution_x = manifest.width
        scene.render.resolution_y = manifest.height
        scene.render.resolution_percentage = 100
        setup_stereo_output(scene)
    return built


def setup_stereo_output(scene: bpy.types.Scene) -> None:
    """Stereo 3D multiview rendering, saved side by side (left eye on the left)."""
    render = scene.render
    render.use_multiview = True
    render.views_format = "STEREO_3D"
    settings = render.image_settings
    settings.views_format = "STEREO_3D"
    settings.stereo_3d_format.display_mode = "SIDEBYSIDE"
    settings.stereo_3d_format.use_sidebyside_crosseyed = False
    settings.stereo_3d_format.use_squeezed_frame = False


# -- the fused (TSDF) mesh of each shot: one static object per shot in the rig's world ------------------------------

FUSED_SHOT_KEY = "depthshot_shot"  # on a fused object: the index of its shot
FUSED_COLOUR = "Col"  # the colour attribute Blender's PLY importer makes of the vertex colours


class SceneError(Exception):
    """Blender data a builder needs is not there; the message is one line for the user."""


def fused_paths(folder: Path, manifest: PassManifest) -> dict[int, Path]:
    """The fused meshes ``python -m core.mesh --tsdf`` wrote into ``folder`` (``shot_000.ply`` ...), by shot index
    (a shot without a tracked frame has none)."""
    paths = {i: folder / f"shot_{i:03d}.ply" for i in range(len(manifest.shots))}
    return {i: p for i, p in paths.items() if p.is_file()}


def _fused_material(source: bpy.types.Strip) -> bpy.types.Material:
    """Emission of the mesh's vertex colours (the fused footage), like the footage material; one per strip."""
    name = f"{source.name} fused colour"
    material = bpy.data.materials.get(name) or bpy.data.materials.new(name)
    tree = material.node_tree
    tree.nodes.clear()
    colour = tree.nodes.new("ShaderNodeAttribute")
    colour.attribute_name = FUSED_COLOUR
    emit = tree.nodes.new("ShaderNodeEmission")
    out = tree.nodes.new("ShaderNodeOutputMaterial")
    tree.links.new(colour.outputs["Color"], emit.inputs["Color"])
    tree.links.new(emit.outputs[0], out.inputs["Surface"])
    return material


def _import_ply(path: Path) -> bpy.types.Mesh:
    """The mesh of the PLY file ``path`` as Blender's PLY importer reads it (no axis change); the importer's
    object is removed again."""
    before = set(bpy.data.objects)
    result = bpy.ops.wm.ply_import(filepath=str(path), forward_axis="Y", up_axis="Z")
    made = [o for o in bpy.data.objects if o not in before]
    if result != {"FINISHED"} or len(made) != 1 or made[0].type != "MESH":
        for obj in made:
            bpy.data.objects.remove(obj)
        raise SceneError(f"Blender's PLY importer could not read {path}")
    mesh = made[0].data
    bpy.data.objects.remove(made[0])
    return mesh


def _key_shot_visibility(obj: bpy.types.Object, first: int, start: int, end: int) -> None:
    """Show ``obj`` only over scene frames ``[first + start, first + end)`` (its shot: another shot is another
    world), constant keys on ``hide_viewport`` and ``hide_render``."""
    _clear_animation(obj)
    keys = [(first + start - 1, True), (first + start, False), (first + end, True)]
    for prop in ("hide_viewport", "hide_render"):
        for frame, hidden in keys:
            setattr(obj, prop, hidden)
            obj.keyframe_insert(prop, frame=frame)
    for curve in _fcurves(obj):
        for point in curve.keyframe_points:
            point.interpolation = "CONSTANT"


def add_fused_meshes(scene: bpy.types.Scene, source: bpy.types.Strip, manifest: PassManifest, folder: Path,
                     mapping: camera_model.DepthMapping) -> list[bpy.types.Object]:
    """Import the fused mesh of each shot from ``folder`` into ``source``'s world-space rig as one static object
    per shot ("<strip> fused", "<strip> fused 1", ...; replaced in place on a new import), parented to the rig's
    world empty with the rotation from the meshes' glTF axes (y up) to Blender's z up and the poses' scale
    (``pose_scale``), so it sits where the keyed camera sees the geometry. With several shots each is shown only
    during its own shot. ``SceneError`` when there is no world-space rig or no mesh."""
    from mathutils import Matrix

    rig = find_rig(scene, source)
    root = rig_object(rig, "world") if rig is not None else None
    if root is None:
        raise SceneError(f"{source.name!r} has no world-space rig: tick World Space (Poses) and press Build 3D")
    paths = fused_paths(folder, manifest)
    if not paths:
        raise SceneError(f"no fused mesh in {folder}")
    scale = pose_scale(manifest, mapping)
    basis = Matrix.Diagonal((scale, scale, scale, 1.0)) @ Matrix.Rotation(math.pi / 2.0, 4, "X")
    material = _fused_material(source)
    first = round(source.frame_start) + pass_lead(source, manifest)
    built = []
    for shot, path in paths.items():
        mesh = _import_ply(path)
        mesh.name = f"{source.name} fused" + (f" {shot}" if shot else "")
        mesh.materials.append(material)
        obj = next((o for o in rig.objects if o.get(ROLE_KEY) == "fused" and o.get(FUSED_SHOT_KEY) == shot), None)
        obj = _holding(rig, obj, mesh.name, mesh)
        obj[ROLE_KEY], obj[FUSED_SHOT_KEY] = "fused", shot
        obj.parent = root
        obj.matrix_parent_inverse.identity()
        obj.matrix_basis = basis
        if len(manifest.shots) > 1:
            s = manifest.shots[shot]
            _key_shot_visibility(obj, first, s.start, s.end)
            obj[KEYED_KEY] = round(source.frame_start)
        built.append(obj)
    return built
