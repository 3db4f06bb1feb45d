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


def add_depth_strip(scene: bpy.types.Scene, source: bpy.types.Strip, manifest: PassManifest) -> bpy.types.Strip:
    """The pass's PNG sequence as a muted image strip in the first free channel above ``source``, frame-aligned.

    Muted, so the edit still shows the footage (unmute it to see the depth); one per source, replaced in place
    when the pass changes (same name and channel).
    """
    strips = scene.sequence_editor.strips
    name = depth_strip_name(source)
    old = strips.get(name)
    frame_start = source.frame_final_start
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
    image = bpy.data.images.load(str(manifest.frame_path(0)), check_existing=True)
    image.source = "SEQUENCE"
    image.colorspace_settings.name = "Non-Color"
    return image


def _footage_material(source: bpy.types.Strip, frame_count: int) -> bpy.types.Material:
    """Emission material showing the movie frame of the current scene frame through the grid's UVs."""
    material = bpy.data.materials.new(f"{source.name} footage")
    tree = material.node_tree
    tree.nodes.clear()
    movie = bpy.data.images.load(bpy.path.abspath(source.filepath), check_existing=True)
    movie.source = "MOVIE"
    uv = tree.nodes.new("ShaderNodeAttribute")
    uv.attribute_name = geometry_nodes.UV_ATTRIBUTE
    tex = tree.nodes.new("ShaderNodeTexImage")
    tex.image = movie
    tex.interpolation = "Closest"
    tex.extension = "EXTEND"
    tex.image_user.frame_start = source.frame_final_start
    tex.image_user.frame_offset = round(source.frame_offset_start)
    tex.image_user.frame_duration = frame_count
    tex.image_user.use_auto_refresh = True
    emit = tree.nodes.new("ShaderNodeEmission")
    out = tree.nodes.new("ShaderNodeOutputMaterial")
    tree.links.new(uv.outputs["Vector"], tex.inputs["Vector"])
    tree.links.new(tex.outputs["Color"], emit.inputs["Color"])
    tree.links.new(emit.outputs[0], out.inputs["Surface"])
    return material


def _collection(scene: bpy.types.Scene) -> bpy.types.Collection:
    collection = bpy.data.collections.new(COLLECTION_NAME)
    scene.collection.children.link(collection)
    return collection


def add_camera(
    scene: bpy.types.Scene, collection: bpy.types.Collection, manifest: PassManifest, near: float, ratio: float
) -> bpy.types.Object:
    """A camera that sees the original frame (same field of view and aspect), with off-axis stereo settings."""
    cam = camera_model.pass_camera(manifest.width, manifest.height, manifest.intrinsics)
    data = bpy.data.cameras.new("Depthshot camera")
    data.sensor_fit = "HORIZONTAL"
    data.sensor_width = camera_model.SENSOR_WIDTH_MM
    data.lens = cam.lens_mm
    data.shift_x, data.shift_y = cam.shift
    data.clip_start = near * 0.1
    data.clip_end = near * ratio * 10.0
    convergence = near * math.sqrt(ratio) if manifest.kind != "metric_depth" else 2.0
    data.stereo.convergence_mode = "OFFAXIS"
    data.stereo.convergence_distance = convergence
    data.stereo.interocular_distance = convergence * STEREO_INTEROCULAR_FRACTION
    obj = bpy.data.objects.new("Depthshot camera", data)
    obj.rotation_euler = (math.pi / 2.0, 0.0, 0.0)  # look along +Y, z up
    collection.objects.link(obj)
    scene.camera = obj
    return obj


def _lut_mesh(manifest: PassManifest) -> bpy.types.Mesh:
    """One vertex per pass frame at ``(lo, hi, 0)`` of its shot: what the node group looks up per frame."""
    mesh = bpy.data.meshes.new(f"{Path(manifest.path).name} ranges")
    ranges = manifest.frame_ranges()
    mesh.vertices.add(len(ranges))
    mesh.vertices.foreach_set("co", [c for lo, hi in ranges for c in (lo, hi, 0.0)])
    mesh.update()
    return mesh


def add_depth_object(
    name: str,
    collection: bpy.types.Collection,
    camera: bpy.types.Object,
    manifest: PassManifest,
    source: bpy.types.Strip,
    material: bpy.types.Material,
    *,
    points: bool,
    resolution: tuple[int, int],
    near: float,
    ratio: float,
) -> bpy.types.Object:
    """A mesh (or point cloud) object driven by the depth surface node group, parented to ``camera``."""
    cam = camera_model.pass_camera(manifest.width, manifest.height, manifest.intrinsics)
    obj = bpy.data.objects.new(name, _lut_mesh(manifest))
    collection.objects.link(obj)
    obj.parent = camera
    modifier = obj.modifiers.new("Depthshot", "NODES")
    modifier.node_group = geometry_nodes.build_group()
    geometry_nodes.set_inputs(
        modifier,
        {
            "Depth": _depth_image(manifest),
            "First Frame": source.frame_final_start,
            "Frame Count": manifest.frame_count,
            "Width": manifest.width,
            "Height": manifest.height,
            "fx": cam.fx,
            "fy": cam.fy,
            "cx": cam.cx,
            "cy": cam.cy,
            "Metric": manifest.kind == "metric_depth",
            "Near": near,
            "Ratio": ratio,
            "Resolution X": resolution[0],
            "Resolution Y": resolution[1],
            "Points": points,
            "Point Radius": near * 2.0 / max(resolution),
            "Material": material,
        },
    )
    return obj


def build_scene(
    scene: bpy.types.Scene,
    source: bpy.types.Strip,
    manifest: PassManifest,
    *,
    mesh: bool,
    points: bool,
    stereo: bool,
    resolution: tuple[int, int],
    near: float = camera_model.DEFAULT_NEAR,
    ratio: float = camera_model.DEFAULT_NEAR_FAR_RATIO,
) -> list[bpy.types.Object]:
    """Build the chosen results for ``source``'s depth pass in a new "Depthshot" collection; returns the objects."""
    collection = _collection(scene)
    camera = add_camera(scene, collection, manifest, near, ratio)
    material = _footage_material(source, manifest.frame_count)
    built = [camera]
    if mesh:
        built.append(add_depth_object("Depthshot mesh", collection, camera, manifest, source, material,
                                      points=False, resolution=resolution, near=near, ratio=ratio))
    if points:
        built.append(add_depth_object("Depthshot points", collection, camera, manifest, source, material,
                                      points=True, resolution=resolution, near=near, ratio=ratio))
    scene.render.resolution_x = manifest.width
    scene.render.resolution_y = manifest.height
    if stereo:
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
