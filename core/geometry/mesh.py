"""Displaced grid meshes from depth, textured with the frame (trimesh), and their GLB / OBJ / PLY files.

Mesh vertices are in Blender/glTF camera axes (x right, y up, the camera at the origin looking down -z), which
glTF requires and which DCC tools expect; units are those of the depth.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import trimesh
from PIL import Image

from core.atomic import atomic_path
from core.errors import DepthshotError
from core.geometry.camera import Intrinsics, opencv_to_blender, unproject
from core.geometry.edges import EdgeRule, grid_triangles

MESH_FORMATS = ("glb", "obj", "ply")
"""glb: one file with the embedded texture and vertex normals (default); obj: .obj + .mtl + .png texture; ply:
vertex normals and colours sampled from the frame, no UVs (PLY has no standard texture reference, and readers
such as trimesh take a PLY with UVs for a textured mesh and drop its colours)."""


@dataclass(frozen=True)
class MeshConfig:
    """``stride``: one vertex every stride pixels in x and y; ``edges``: triangles spanning a discontinuity
    (see :mod:`core.geometry.edges`) are cut."""

    stride: int = 1
    edges: EdgeRule = EdgeRule()

    def __post_init__(self) -> None:
        if self.stride < 1:
            raise DepthshotError(f"stride must be >= 1, got {self.stride}")


def depth_to_mesh(
    depth: np.ndarray, image: np.ndarray, k: Intrinsics, config: MeshConfig = MeshConfig(), name: str = "frame"
) -> trimesh.Trimesh:
    """Grid mesh over ``depth`` (H, W) (along the optical axis, NaN/<=0 = none) with intrinsics ``k``,
    textured with ``image`` (H, W, 3) uint8 RGB; ``name`` names the material (and an OBJ's texture file).

    Vertices: one per kept grid sample (pixel centres every ``stride`` pixels) that some triangle uses, in
    Blender/glTF camera axes; UVs map each vertex to its pixel centre (origin bottom-left, glTF/OBJ style).
    """
    if image.shape != (*depth.shape, 3) or image.dtype != np.uint8:
        raise DepthshotError(f"image must be {depth.shape[1]}x{depth.shape[0]} RGB uint8, got {image.shape} {image.dtype}")
    s = config.stride
    grid = depth[::s, ::s]
    gh, gw = grid.shape
    faces = grid_triangles(grid, s / k.fx, s / k.fy, config.edges)
    is_used = np.zeros(gh * gw, dtype=bool)
    is_used[faces.ravel()] = True
    used = np.flatnonzero(is_used)
    if len(used) < gh * gw:  # drop vertices no triangle uses, renumbering the faces
        faces = np.take(np.cumsum(is_used) - 1, faces)
    rows, cols = np.divmod(used, gw)
    vertices = opencv_to_blender(np.take(unproject(depth, k)[::s, ::s].reshape(-1, 3), used, axis=0))
    uv = np.empty((len(used), 2))
    uv[:, 0] = (cols * s + 0.5) / k.width
    uv[:, 1] = 1.0 - (rows * s + 0.5) / k.height
    material = photo_material(image, name)
    visual = trimesh.visual.TextureVisuals(uv=uv, material=material)
    return trimesh.Trimesh(vertices=vertices, faces=faces, visual=visual, process=False,
                           vertex_normals=vertex_normals(vertices, faces))


def vertex_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Unit vertex normals (V, 3) float32: the area-weighted sum of the normals of the faces (F, 3) around each
    vertex, following the faces' winding (for the grid meshes: towards the camera). (0, 0, 0) for unused vertices."""
    v = np.asarray(vertices, np.float64)
    face_n = np.cross(v[faces[:, 1]] - v[faces[:, 0]], v[faces[:, 2]] - v[faces[:, 0]])  # length = 2 x area
    out = np.zeros((len(v), 3))
    for axis in range(3):
        w = np.repeat(face_n[:, axis], 3)
        out[:, axis] = np.bincount(faces.reshape(-1), weights=w, minlength=len(v))
    norm = np.linalg.norm(out, axis=1, keepdims=True)
    return np.divide(out, norm, out=np.zeros_like(out), where=norm > 0).astype(np.float32)


def photo_material(image: np.ndarray, name: str) -> trimesh.visual.material.PBRMaterial:
    """The material of a scanned surface: the photo ``image`` (H, W, 3) uint8 as it is (base colour factor 1), not
    metallic, fully rough, so viewers show the photo's colours instead of a dark, shiny surface."""
    return trimesh.visual.material.PBRMaterial(
        name=name,
        baseColorTexture=Image.fromarray(image),
        baseColorFactor=[255, 255, 255, 255],
        metallicFactor=0.0,
        roughnessFactor=1.0,
    )


def photo_mtl(name: str, texture: str) -> str:
    """A Wavefront .mtl with the same look as ``photo_material``: full diffuse and ambient colour from the texture,
    no specular highlight (``illum 1``), and the PBR extension's roughness 1 / metallic 0."""
    return (
        f"newmtl {name}\nKa 1.000000 1.000000 1.000000\nKd 1.000000 1.000000 1.000000\n"
        f"Ks 0.000000 0.000000 0.000000\nNs 0.000000\nillum 1\nPr 1.000000\nPm 0.000000\n"
        f"map_Ka {texture}\nmap_Kd {texture}\n"
    )


def _write_atomic(path: Path, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def mesh_path(out_dir: str | os.PathLike[str], index: int, fmt: str) -> Path:
    """The file of frame ``index`` in ``out_dir``: ``000123.glb`` etc."""
    return Path(out_dir) / f"{index:06d}.{fmt}"


def write_mesh(path: str | os.PathLike[str], mesh: trimesh.Trimesh) -> Path:
    """Write ``mesh`` in the format named by the suffix of ``path`` (.glb, .obj, .ply), atomically.

    OBJ also writes ``<stem>.mtl`` and the texture ``<material name>.png`` beside it, before the .obj itself, so
    an existing .obj means a complete frame. Returns the path.
    """
    path = Path(path)
    fmt = path.suffix.lower().lstrip(".")
    if fmt == "glb":
        _write_atomic(path, mesh.export(file_type="glb", include_normals=True))
    elif fmt == "obj":
        text, extra = trimesh.exchange.obj.export_obj(
            mesh, include_texture=True, return_texture=True, mtl_name=f"{path.stem}.mtl"
        )
        mtl_name = f"{path.stem}.mtl"
        textures = [n for n in extra if n != mtl_name]
        if mtl_name in extra and len(textures) == 1:  # one photo texture: write the .mtl that shows it as it is
            extra[mtl_name] = photo_mtl(mesh.visual.material.name, textures[0]).encode("utf-8")
        for name, data in extra.items():
            _write_atomic(path.with_name(name), data)
        _write_atomic(path, text.encode("utf-8"))
    elif fmt == "ply":
        coloured = mesh.copy()
        if hasattr(mesh.visual, "to_color"):  # a textured mesh: colours sampled from the texture
            coloured.visual = mesh.visual.to_color()
        _write_atomic(path, trimesh.exchange.ply.export_ply(coloured, vertex_normal=True))
    else:
        raise DepthshotError(f"unknown mesh format {fmt!r} for {path.name} (expected one of {', '.join(MESH_FORMATS)})")
    return path
