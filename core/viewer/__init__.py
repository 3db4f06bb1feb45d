"""Open3D player for point-cloud sequences (:mod:`.window`) and headless screenshots (:mod:`.screenshots`);
``python -m core.viewer DIR [--screenshots OUT]``."""
