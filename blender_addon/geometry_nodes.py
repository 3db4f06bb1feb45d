"""The Geometry Nodes group that turns a depth image sequence into a displaced grid or a point cloud.

One object per result, however long the clip: the object's own mesh is a lookup table (vertex ``i`` holds
``(lo, hi, 0)`` of pass frame ``i``'s shot), and the node group samples the depth PNG of the current scene
frame on a grid, undoes the 16-bit quantisation with the looked-up range and unprojects with the camera model
of ``camera_model`` into Blender camera axes (x right, y up, looking down -z). Parent the object to a camera
with the pass's field of view and the geometry lines up with the footage.
"""

from __future__ import annotations

import bpy

GROUP_NAME = "Depthshot Depth Surface 4"  # the number changes with the group's inputs (older files keep theirs)
UV_ATTRIBUTE = "depthshot_uv"  # per point, for shaders (meshes and point clouds)
UV_MAP = "UVMap"  # per face corner, the mesh's UV map (what Workbench's texture colour uses)

# (name, socket type, default); order is the modifier's panel order
INPUTS = (
    ("Geometry", "NodeSocketGeometry", None),
    ("Depth", "NodeSocketImage", None),
    ("First Frame", "NodeSocketInt", 1),
    ("Frame Count", "NodeSocketInt", 1),
    ("Width", "NodeSocketInt", 64),
    ("Height", "NodeSocketInt", 64),
    ("fx", "NodeSocketFloat", 64.0),
    ("fy", "NodeSocketFloat", 64.0),
    ("cx", "NodeSocketFloat", 31.5),
    ("cy", "NodeSocketFloat", 31.5),
    ("Metric", "NodeSocketBool", False),
    ("Near", "NodeSocketFloat", 1.0),
    ("Ratio", "NodeSocketFloat", 10.0),
    ("Metric Scale", "NodeSocketFloat", 1.0),
    ("Resolution X", "NodeSocketInt", 128),
    ("Resolution Y", "NodeSocketInt", 72),
    ("Points", "NodeSocketBool", False),
    ("Point Radius", "NodeSocketFloat", 0.005),
    ("Material", "NodeSocketMaterial", None),
    ("Max Edge Angle", "NodeSocketFloat", 85.0),  # degrees; 90 keeps every face
    ("Strip Start", "NodeSocketInt", -1048574),  # scene frames [Strip Start, Strip End) where the strip shows
    ("Strip End", "NodeSocketInt", 1048574),
)


class _Builder:
    """Tiny helper: create nodes and link them by output/input index or name."""

    def __init__(self, tree: bpy.types.NodeTree):
        self.tree = tree

    def node(self, kind: str, **props) -> bpy.types.Node:
        node = self.tree.nodes.new(kind)
        for key, value in props.items():
            setattr(node, key, value)
        return node

    def link(self, src, dst) -> None:
        self.tree.links.new(src, dst)

    def math(self, op: str, a, b=None) -> bpy.types.NodeSocket:
        """``a op b`` where each operand is a socket or a constant; returns the output socket."""
        node = self.node("ShaderNodeMath", operation=op)
        for socket, value in zip(node.inputs, (a, b)):
            if isinstance(value, bpy.types.NodeSocket):
                self.link(value, socket)
            elif value is not None:
                socket.default_value = value
        return node.outputs[0]


def build_group() -> bpy.types.GeometryNodeTree:
    """Create (or return the existing) depth surface node group."""
    existing = bpy.data.node_groups.get(GROUP_NAME)
    if existing is not None:
        return existing
    tree = bpy.data.node_groups.new(GROUP_NAME, "GeometryNodeTree")
    for name, socket_type, default in INPUTS:
        item = tree.interface.new_socket(name=name, in_out="INPUT", socket_type=socket_type)
        if default is not None:
            item.default_value = default
    tree.interface.new_socket(name="Geometry", in_out="OUTPUT", socket_type="NodeSocketGeometry")
    b = _Builder(tree)
    gi = b.node("NodeGroupInput")
    go = b.node("NodeGroupOutput")
    inp = gi.outputs

    # pass frame index of the current scene frame, clamped to the pass
    time = b.node("GeometryNodeInputSceneTime")
    frame = time.outputs["Frame"]
    offset = b.math("SUBTRACT", frame, inp["First Frame"])
    index = b.math("MAXIMUM", b.math("MINIMUM", offset, b.math("SUBTRACT", inp["Frame Count"], 1.0)), 0.0)
    index = b.math("FLOOR", index)
    # shown only while the strip shows and the pass has a frame: inside both [start, end) ranges
    inside = b.math("MULTIPLY", b.math("MULTIPLY", b.math("GREATER_THAN", offset, -0.5),
                                        b.math("LESS_THAN", offset, b.math("SUBTRACT", inp["Frame Count"], 0.5))),
                    b.math("MULTIPLY", b.math("GREATER_THAN", frame, b.math("SUBTRACT", inp["Strip Start"], 0.5)),
                           b.math("LESS_THAN", frame, b.math("SUBTRACT", inp["Strip End"], 0.5))))

    # the shot's raw range from the lookup-table mesh: vertex[index].position = (lo, hi, 0)
    sample = b.node("GeometryNodeSampleIndex", data_type="FLOAT_VECTOR", domain="POINT")
    b.link(inp["Geometry"], sample.inputs["Geometry"])
    b.link(b.node("GeometryNodeInputPosition").outputs[0], sample.inputs["Value"])
    b.link(index, sample.inputs["Index"])
    lohi = b.node("ShaderNodeSeparateXYZ")
    b.link(sample.outputs[0], lohi.inputs[0])
    lo, hi = lohi.outputs[0], lohi.outputs[1]

    # grid of Resolution X x Resolution Y vertices spanning pixel centres 0..W-1, 0..H-1 (row 0 on top)
    grid = b.node("GeometryNodeMeshGrid")
    grid.inputs["Size X"].default_value = 1.0
    grid.inputs["Size Y"].default_value = 1.0
    b.link(inp["Resolution X"], grid.inputs["Vertices X"])
    b.link(inp["Resolution Y"], grid.inputs["Vertices Y"])
    pos = b.node("ShaderNodeSeparateXYZ")
    b.link(b.node("GeometryNodeInputPosition").outputs[0], pos.inputs[0])
    # snapped to the nearest pixel centre, so each vertex is exactly one depth pixel unprojected
    col = b.math("ROUND", b.math("MULTIPLY", b.math("ADD", pos.outputs[0], 0.5), b.math("SUBTRACT", inp["Width"], 1.0)))
    row = b.math("ROUND", b.math("MULTIPLY", b.math("SUBTRACT", 0.5, pos.outputs[1]), b.math("SUBTRACT", inp["Height"], 1.0)))
    uv = b.node("ShaderNodeCombineXYZ")
    b.link(b.math("DIVIDE", b.math("ADD", col, 0.5), inp["Width"]), uv.inputs[0])
    b.link(b.math("SUBTRACT", 1.0, b.math("DIVIDE", b.math("ADD", row, 0.5), inp["Height"])), uv.inputs[1])

    # depth sample of this frame (Non-Color 16-bit PNG: value = quantised fraction of the shot's range)
    tex = b.node("GeometryNodeImageTexture", interpolation="Closest", extension="EXTEND")
    b.link(inp["Depth"], tex.inputs["Image"])
    b.link(uv.outputs[0], tex.inputs["Vector"])
    b.link(index, tex.inputs["Frame"])
    channels = b.node("FunctionNodeSeparateColor")
    b.link(tex.outputs["Color"], channels.inputs[0])
    q = channels.outputs[0]
    raw = b.math("ADD", lo, b.math("MULTIPLY", q, b.math("SUBTRACT", hi, lo)))

    # relative inverse depth -> depth with a bounded near/far ratio (a flat shot sits at near)
    flat = b.node("FunctionNodeCompare", data_type="FLOAT", operation="LESS_EQUAL")
    b.link(hi, flat.inputs[0])
    b.link(lo, flat.inputs[1])
    t = b.node("GeometryNodeSwitch", input_type="FLOAT")
    b.link(flat.outputs[0], t.inputs["Switch"])
    b.link(q, t.inputs["False"])
    t.inputs["True"].default_value = 1.0
    inv_near = b.math("DIVIDE", 1.0, inp["Near"])
    inv_far = b.math("DIVIDE", inv_near, inp["Ratio"])
    inv = b.math("ADD", inv_far, b.math("MULTIPLY", t.outputs[0], b.math("SUBTRACT", inv_near, inv_far)))
    relative = b.math("DIVIDE", 1.0, inv)
    z = b.node("GeometryNodeSwitch", input_type="FLOAT")
    b.link(inp["Metric"], z.inputs["Switch"])
    b.link(relative, z.inputs["False"])
    b.link(b.math("MULTIPLY", raw, inp["Metric Scale"]), z.inputs["True"])
    z = z.outputs[0]

    # unproject: OpenCV (x right, y down, z forward) -> Blender camera (x right, y up, -z forward)
    xyz = b.node("ShaderNodeCombineXYZ")
    b.link(b.math("MULTIPLY", b.math("DIVIDE", b.math("SUBTRACT", col, inp["cx"]), inp["fx"]), z), xyz.inputs[0])
    b.link(b.math("MULTIPLY", b.math("DIVIDE", b.math("SUBTRACT", inp["cy"], row), inp["fy"]), z), xyz.inputs[1])
    b.link(b.math("MULTIPLY", z, -1.0), xyz.inputs[2])

    store = b.node("GeometryNodeStoreNamedAttribute", data_type="FLOAT_VECTOR", domain="POINT")
    b.link(grid.outputs["Mesh"], store.inputs["Geometry"])
    store.inputs["Name"].default_value = UV_ATTRIBUTE
    b.link(uv.outputs[0], store.inputs["Value"])
    store_uv = b.node("GeometryNodeStoreNamedAttribute", data_type="FLOAT2", domain="CORNER")
    b.link(store.outputs[0], store_uv.inputs["Geometry"])
    store_uv.inputs["Name"].default_value = UV_MAP
    b.link(uv.outputs[0], store_uv.inputs["Value"])
    setpos = b.node("GeometryNodeSetPosition")
    b.link(store_uv.outputs[0], setpos.inputs["Geometry"])
    b.link(xyz.outputs[0], setpos.inputs["Position"])

    # depth discontinuities: the core's scale-free rule (core/geometry/edges.py) on every grid edge, with the
    # edge's two samples a, b: slope = |z_a - z_b| / max(z_a, z_b) / dθ, dθ = hypot(Δcol / fx, Δrow / fy) the
    # viewing angle between them; edges steeper than tan(Max Edge Angle) are removed with their faces
    cut = _edge_cut(b, setpos.outputs[0], inp)
    cut_edges = b.node("GeometryNodeDeleteGeometry", domain="EDGE", mode="EDGE_FACE")
    b.link(setpos.outputs[0], cut_edges.inputs["Geometry"])
    b.link(cut, cut_edges.inputs["Selection"])

    # metric holes (no measurement, raw <= 0) are removed
    hole = b.node("FunctionNodeBooleanMath", operation="AND")
    b.link(inp["Metric"], hole.inputs[0])
    b.link(b.math("LESS_THAN", raw, 1e-9), hole.inputs[1])
    delete = b.node("GeometryNodeDeleteGeometry", domain="POINT")
    b.link(cut_edges.outputs[0], delete.inputs["Geometry"])
    b.link(hole.outputs[0], delete.inputs["Selection"])

    # points as small camera-facing squares (a real mesh with the point's UVs), so every engine textures them,
    # Workbench's Texture colour included (it draws point cloud geometry untextured)
    points = b.node("GeometryNodeMeshToPoints")
    b.link(delete.outputs[0], points.inputs["Mesh"])
    b.link(inp["Point Radius"], points.inputs["Radius"])
    square = b.node("GeometryNodeMeshGrid")
    square.inputs["Vertices X"].default_value = 2
    square.inputs["Vertices Y"].default_value = 2
    side = b.math("MULTIPLY", inp["Point Radius"], 2.0)
    b.link(side, square.inputs["Size X"])
    b.link(side, square.inputs["Size Y"])
    splats = b.node("GeometryNodeInstanceOnPoints")
    b.link(points.outputs[0], splats.inputs["Points"])
    b.link(square.outputs["Mesh"], splats.inputs["Instance"])
    real = b.node("GeometryNodeRealizeInstances")
    b.link(splats.outputs[0], real.inputs[0])
    splat_uv = b.node("GeometryNodeStoreNamedAttribute", data_type="FLOAT2", domain="CORNER")
    b.link(real.outputs[0], splat_uv.inputs["Geometry"])
    splat_uv.inputs["Name"].default_value = UV_MAP
    point_uv = b.node("GeometryNodeInputNamedAttribute", data_type="FLOAT_VECTOR")
    point_uv.inputs["Name"].default_value = UV_ATTRIBUTE
    b.link(point_uv.outputs["Attribute"], splat_uv.inputs["Value"])
    out = b.node("GeometryNodeSwitch", input_type="GEOMETRY")
    b.link(inp["Points"], out.inputs["Switch"])
    b.link(delete.outputs[0], out.inputs["False"])
    b.link(splat_uv.outputs[0], out.inputs["True"])
    material = b.node("GeometryNodeSetMaterial")
    b.link(out.outputs[0], material.inputs["Geometry"])
    b.link(inp["Material"], material.inputs["Material"])
    shown = b.node("GeometryNodeSwitch", input_type="GEOMETRY")  # False: nothing outside the strip's range
    b.link(b.math("GREATER_THAN", inside, 0.5), shown.inputs["Switch"])
    b.link(material.outputs[0], shown.inputs["True"])
    b.link(shown.outputs[0], go.inputs[0])
    return tree


def _edge_cut(b: _Builder, geometry, inp) -> bpy.types.NodeSocket:
    """Edge-domain selection of the grid edges across a depth discontinuity (see ``build_group``)."""
    ends = b.node("GeometryNodeInputMeshEdgeVertices")
    pixel = []
    for k in ("1", "2"):  # pixel coordinates of each end, back from the stored UV (u = (col + .5) / W)
        sample = b.node("GeometryNodeSampleIndex", data_type="FLOAT_VECTOR", domain="POINT")
        b.link(geometry, sample.inputs["Geometry"])
        uv = b.node("GeometryNodeInputNamedAttribute", data_type="FLOAT_VECTOR")
        uv.inputs["Name"].default_value = UV_ATTRIBUTE
        b.link(uv.outputs["Attribute"], sample.inputs["Value"])
        b.link(ends.outputs[f"Vertex Index {k}"], sample.inputs["Index"])
        pixel.append(b.node("ShaderNodeSeparateXYZ"))
        b.link(sample.outputs[0], pixel[-1].inputs[0])
    z = []
    for k in ("1", "2"):
        xyz = b.node("ShaderNodeSeparateXYZ")
        b.link(ends.outputs[f"Position {k}"], xyz.inputs[0])
        z.append(b.math("MULTIPLY", xyz.outputs[2], -1.0))  # camera looks down -z
    du = b.math("DIVIDE", b.math("MULTIPLY", b.math("SUBTRACT", pixel[0].outputs[0], pixel[1].outputs[0]),
                                 inp["Width"]), inp["fx"])
    dv = b.math("DIVIDE", b.math("MULTIPLY", b.math("SUBTRACT", pixel[0].outputs[1], pixel[1].outputs[1]),
                                 inp["Height"]), inp["fy"])
    angle = b.math("SQRT", b.math("ADD", b.math("MULTIPLY", du, du), b.math("MULTIPLY", dv, dv)))
    jump = b.math("DIVIDE", b.math("ABSOLUTE", b.math("SUBTRACT", z[0], z[1])), b.math("MAXIMUM", z[0], z[1]))
    slope = b.math("DIVIDE", jump, b.math("MAXIMUM", angle, 1e-9))
    limit = b.math("TANGENT", b.math("RADIANS", b.math("MINIMUM", inp["Max Edge Angle"], 89.999)))
    on = b.math("LESS_THAN", inp["Max Edge Angle"], 90.0)
    return b.math("GREATER_THAN", b.math("MULTIPLY", b.math("GREATER_THAN", slope, limit), on), 0.5)


def input_path(modifier: bpy.types.NodesModifier, name: str) -> str:
    """The data path (from the object) of the modifier's group input ``name``, e.g. for a driver."""
    identifier = modifier.node_group.interface.items_tree[name].identifier
    return f'modifiers["{modifier.name}"]["{identifier}"]'


def set_inputs(modifier: bpy.types.NodesModifier, values: dict) -> None:
    """Set the modifier's group inputs by their names (see ``INPUTS``)."""
    items = modifier.node_group.interface.items_tree
    for name, value in values.items():
        modifier[items[name].identifier] = value
