"""Bounded producer/consumer helpers, and the memory of a long decode + re-encode."""

import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from core.video.pipeline import Sink, bounded_map, prefetch

from .media import write_video


def test_prefetch_keeps_order_and_stays_bounded() -> None:
    produced = []

    def source():
        for i in range(20):
            produced.append(i)
            yield i

    items = prefetch(source(), maxsize=3)
    assert next(items) == 0
    time.sleep(0.2)
    assert len(produced) <= 1 + 3 + 1  # taken, queued, and one blocked in put
    assert list(items) == list(range(1, 20))


def test_bounded_map_runs_in_another_thread_and_reraises() -> None:
    main = threading.get_ident()

    def work(i: int) -> int:
        if i == 5:
            raise ValueError("bad item 5")
        return threading.get_ident()

    got = []
    with pytest.raises(ValueError, match="bad item 5"):
        for ident in bounded_map(work, range(10), maxsize=2):
            got.append(ident)
    assert len(got) == 5 and main not in got


def test_stopping_early_closes_the_producer() -> None:
    closed = threading.Event()

    def source():
        try:
            yield from range(1000)
        finally:
            closed.set()

    items = prefetch(source(), maxsize=2)
    assert next(items) == 0
    items.close()
    assert closed.wait(2.0)


def test_closing_before_the_first_item_stops_the_producer() -> None:
    """The producer runs ahead from the start; closed before anything was taken, it stops (and is closed)."""
    closed, produced = threading.Event(), []

    def source():
        try:
            for i in range(1000):
                produced.append(i)
                yield i
        finally:
            closed.set()

    items = prefetch(source(), maxsize=2)
    time.sleep(0.2)
    assert produced  # ahead of the first next()
    items.close()
    assert closed.is_set() and len(produced) <= 4


def test_sink_consumes_in_order_and_reports_errors() -> None:
    seen = []
    with Sink(lambda a, b: seen.append(a + b), maxsize=2) as sink:
        for i in range(10):
            sink.put(i, 1)
    assert seen == list(range(1, 11))

    def fail(x: int) -> None:
        raise OSError(f"disk full at {x}")

    with pytest.raises(OSError, match="disk full at 0"):
        with Sink(fail) as sink:
            sink.put(0)


_RSS_SCRIPT = """
import re, resource, sys
sys.path.insert(0, {root!r})
from core.video import EncodeSettings, VideoWriter, prefetch, read_frames
src, dst = sys.argv[1:]
with VideoWriter(dst, 320, 240, 25, EncodeSettings(preset="ultrafast"), source=src) as out:
    for frame in prefetch(read_frames(src)):
        out.write(frame.image, frame.pts)
try:  # Linux: ru_maxrss keeps the forking parent's size across exec; VmHWM is this program's own peak
    print(re.search(r"VmHWM:\\s+(\\d+) kB", open("/proc/self/status").read()).group(1))
except OSError:
    print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def _peak_rss_kib(tmp_path: Path, frames: int) -> int:
    """Peak resident memory (KiB) of a fresh process that decodes and re-encodes a ``frames``-frame clip."""
    src = write_video(tmp_path / f"{frames}.mkv", frames=frames, size=(320, 240), fps=25, codec="ffv1", audio="aac")
    script = _RSS_SCRIPT.format(root=str(Path(__file__).resolve().parents[2]))
    done = subprocess.run(
        [sys.executable, "-c", script, str(src), str(tmp_path / f"{frames}.mp4")],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(done.stdout.strip().splitlines()[-1])


def test_memory_does_not_grow_with_length(tmp_path: Path) -> None:
    short = _peak_rss_kib(tmp_path, 100)
    long = _peak_rss_kib(tmp_path, 1000)
    # keeping the 900 extra 320x240 frames would take about 200 MB; allow 8 MB of noise
    assert long - short < 8 * 1024, (short, long)


def test_sink_flush_waits_for_the_queued_calls_and_reraises() -> None:
    done = []

    def slow(i: int) -> None:
        time.sleep(0.02)
        if i == 7:
            raise ValueError("bad call 7")
        done.append(i)

    with pytest.raises(ValueError, match="bad call 7"):
        with Sink(slow, maxsize=2) as sink:
            for i in range(5):
                sink.put(i)
            sink.flush()
            assert done == list(range(5))
            sink.put(7)
            sink.flush()
