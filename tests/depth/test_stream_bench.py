"""``python -m core.bench stream`` runs both engines on one clip at two lengths and reports each."""

from __future__ import annotations

import re

from tests.robust import run


def test_stream_bench_reports_both_engines_at_two_lengths(vits_weights):
    res = run("core.bench", "stream", "--frames", "8", "12", "--size", "56x42", "--input-size", "42",
              "--weights", vits_weights, timeout=600)
    assert res.returncode == 0, res.stderr
    rows = re.findall(r"^\s*(vda|vda-stream)\s+(\d+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+(\d+)$", res.stdout, re.M)
    assert [(e, int(n)) for e, n, *_ in rows] == [("vda", 8), ("vda-stream", 8), ("vda", 12), ("vda-stream", 12)]
    for _, _, fps, p50, p99, rss in rows:
        assert float(fps) > 0 and 0 < float(p50) <= float(p99) and int(rss) > 100
    stream = {int(n): float(p50) for e, n, _, p50, _, _ in rows if e == "vda-stream"}
    offline = {int(n): float(p50) for e, n, _, p50, _, _ in rows if e == "vda"}
    assert all(stream[n] < offline[n] for n in stream)  # a frame waits for its window offline
