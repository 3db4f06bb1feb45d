"""Geometry from depth passes: the camera model (:mod:`.camera`), the discontinuity rule (:mod:`.edges`), point
clouds (:mod:`.pointcloud`), textured grid meshes (:mod:`.mesh`) and the frame stream that pairs a depth pass with
its video's colours (:mod:`.sequence`). The commands are ``python -m core.pointcloud`` and ``python -m core.mesh``."""
