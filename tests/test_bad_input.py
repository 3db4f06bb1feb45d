"""Every command against a shared set of broken inputs and options, as a user runs them.

Each row is one command line. A refused job must: exit 2; print exactly one ``error: ...`` line on stderr (the
last line, no traceback; rows that got as far as the engine may log before it); leave every input byte-identical;
leave nothing new where its output would go. A new command or option joins the sweep by adding a row.
The command lines run through ``core.bench._forkrun`` (one process per command line, forked from one that has
imported the libraries), so the table costs fractions of a second per row.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from core.worker import PROTOCOL_VERSION
from tests.depth.videos import scene_frames, write_video
from tests.robust import Commands, snapshot

W, H, N = 64, 48, 24


@dataclass(frozen=True)
class Row:
    """``args`` may name inputs as ``{clip}``, ``{pass}``, ... and the row's output folder as ``{out}``."""

    command: str
    args: tuple[str, ...]
    expect: str  # a piece of the error line
    stdin: str | None = None
    strict: bool = True  # stderr is that one line and nothing else
    setup: tuple[str, ...] = field(default_factory=tuple)  # files to make in {out} first (a user's files)


def _pass(path: Path, source: Path, frames: int, width: int, height: int, fps: float = 24.0) -> Path:
    from core.depth.depth_pass import DepthPassWriter, PassInfo

    info = PassInfo(source=str(source), fps=fps, width=width, height=height, kind="relative_inverse_depth",
                    model={"id": "test"})
    w = DepthPassWriter(path, info)
    w.begin_shot(0)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    for i in range(frames):
        w.write(i, 1.0 + (xx + i) / width + yy / height, pts=i / fps)
    w.end_shot()
    w.close()
    return path


def _edit_manifest(src: Path, dst: Path, change) -> Path:
    shutil.copytree(src, dst)
    manifest = dst / "depth_pass.json"
    data = json.loads(manifest.read_text())
    data["source"] = os.path.relpath(src / data["source"], dst)
    change(data)
    manifest.write_text(json.dumps(data))
    return dst


def _audio_only(path: Path) -> Path:
    import av

    with av.open(str(path), "w") as c:
        s = c.add_stream("pcm_s16le", rate=8000)
        s.layout = "mono"
        for k in range(4):
            frame = av.AudioFrame.from_ndarray(np.zeros((1, 800), np.int16), format="s16", layout="mono")
            frame.sample_rate, frame.pts = 8000, k * 800
            c.mux(s.encode(frame))
        c.mux(s.encode())
    return path


@pytest.fixture(scope="session")
def inputs(tmp_path_factory, vits_weights) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("bad_inputs")
    clip = write_video(d / "clip.mp4", scene_frames(N, W, H, seed=11))
    data = clip.read_bytes()
    flipped = bytearray(data)
    for k in range(64, 1088):
        flipped[k] ^= 0xFF
    (d / "flipped.mp4").write_bytes(bytes(flipped))
    middle = bytearray(data)
    for k in range(len(data) // 2, len(data) // 2 + 1024):
        middle[k] ^= 0xFF
    (d / "corrupt_middle.mp4").write_bytes(bytes(middle))
    (d / "empty.mp4").write_bytes(b"")
    (d / "text.mp4").write_text("this is not a video\n")
    (d / "truncated.mp4").write_bytes(data[: len(data) * 2 // 5])
    (d / "huge_header.mp4").write_bytes(b"\x00\x00\x00\x01moov" + (2**62).to_bytes(8, "big") + data[:4096])
    _audio_only(d / "audio.wav")
    write_video(d / "tiny.mp4", [np.full((2, 2, 3), 128, np.uint8)] * 3)
    (d / "folder").mkdir()
    (d / "weights.pth").write_text("not a checkpoint")
    other = write_video(d / "other.mp4", scene_frames(10, 32, 32, seed=12))
    good = _pass(d / "pass", clip, N, W, H)
    _pass(d / "other_pass", other, 10, 32, 32)
    _edit_manifest(good, d / "nan_pass", lambda m: m["shots"][0].update(lo=float("nan")))
    _edit_manifest(good, d / "swapped_pass", lambda m: m["shots"][0].update(lo=5.0, hi=1.0))
    _edit_manifest(good, d / "short_pass", lambda m: m["shots"][0].update(end=N - 3))
    _edit_manifest(good, d / "fps_pass", lambda m: m.update(fps=-24.0))
    _edit_manifest(good, d / "size_pass", lambda m: m.update(width=0))
    _edit_manifest(good, d / "list_pass", lambda m: m.update(timestamps=m["timestamps"][::-1]))
    shutil.copytree(good, d / "hole_pass")
    (d / "hole_pass" / "depth" / "000005.png").unlink()
    shutil.copytree(good, d / "cut_pass")
    (d / "cut_pass" / "depth_pass.json").write_text((good / "depth_pass.json").read_text()[:200])
    for p in list((d / "hole_pass").rglob("depth_pass.json")) + list((d / "cut_pass").rglob("depth_pass.json")):
        text = p.read_text()
        if '"source"' in text and text.rstrip().endswith("}"):
            m = json.loads(text)
            m["source"] = os.path.relpath(good / m["source"], p.parent)
            p.write_text(json.dumps(m))
    names = {p.stem if p.is_file() else p.name: p for p in d.iterdir()}
    names["missing"] = d / "missing.mp4"
    names["weights_ok"] = vits_weights
    return names


VIDEOS = ("missing", "empty", "text", "truncated", "flipped", "huge_header", "audio", "folder", "corrupt_middle")
PASSES = ("nan_pass", "swapped_pass", "short_pass", "fps_pass", "size_pass", "list_pass", "hole_pass", "cut_pass")
ENGINE = ("--model", "vda-s", "--weights", "{weights_ok}", "--input-size", "70", "--device", "cpu")


def _rows() -> list[Row]:
    rows: list[Row] = []
    depth = lambda src, *a, **kw: Row("core.depth", (src, "-o", "{out}/p", *ENGINE, *a), **kw)  # noqa: E731
    video_errors = {"missing": "no such file", "folder": "folder", "audio": "video", "empty": "", "text": "",
                    "truncated": "", "flipped": "", "huge_header": "", "corrupt_middle": ""}
    engine_runs = ("truncated", "flipped", "corrupt_middle")  # refused only once decoding reaches the damage
    for v in VIDEOS:
        rows.append(depth("{%s}" % v, expect=video_errors[v], strict=v not in engine_runs))
    for opts, expect in [
        (("--start", "nan"), "--start"), (("--start", "-1"), "--start"), (("--end", "-2"), "--end"),
        (("--start", "0.5", "--end", "0.2"), "after --start"), (("--start", "100"), "past the end"),
        (("--device", "tpu"), "unknown device"), (("--device", "cuda"), "CUDA"), (("--input-size", "0"), "input-size"),
        (("--max-res", "0"), "max-res"), (("--model", "vda-xxl"), "vda-xxl"), (("--precision", "fp8"), "fp8"),
        (("--frobnicate",), "unrecognized"),
    ]:
        rows.append(depth("{clip}", *opts, expect=expect))
    rows.append(Row("core.depth", ("{clip}", "-o", "{out}/p", "--engine", "rollingdepth", "--preset", "turbo"),
                    expect="turbo"))
    rows.append(Row("core.depth", ("{clip}", "-o", "{out}/p", "--model", "vda-s", "--weights", "{weights}",
                                   "--device", "cpu"), expect="weights"))
    rows.append(Row("core.depth", ("{clip}", "-o", "{out}/file", *ENGINE), expect="not a folder", setup=("file",)))

    stereo = lambda *a, **kw: Row("core.stereo", (*a,), **kw)  # noqa: E731
    for v in VIDEOS:
        rows.append(stereo("{%s}" % v, "--depth", "{pass}", "-o", "{out}/s.mp4", expect=video_errors[v],
                           strict=v not in engine_runs))
    for p in PASSES:
        rows.append(stereo("{clip}", "--depth", "{%s}" % p, "-o", "{out}/s.mp4", expect=""))
    rows.append(stereo("{clip}", "--depth", "{other_pass}", "-o", "{out}/s.mp4", expect="another clip"))
    for opts, expect in [
        (("--start", "nan"), "--start"), (("--start", "-1"), "--start"), (("--start", "0.5", "--end", "0.2"), "after"),
        (("--start", "100"), "past the end"), (("--vr-eye-size", "0"), "--vr-eye-size"),
        (("--encode-preset", "bogus"), "bogus"), (("--device", "tpu"), "unknown device"), (("--divergence", "nan"), "diverg"),
        (("--convergence", "2"), "convergence"), (("--crf", "99"), "crf"), (("--fov", "0"), "field of view"),
        (("--segment-seconds", "0"), "segment"), (("--layout", "hologram"), "hologram"),
    ]:
        rows.append(stereo("{clip}", "--depth", "{pass}", "-o", "{out}/s.mp4", *opts, expect=expect))
    rows.append(stereo("{clip}", "-o", "{out}/s.mp4", "--model", "vda-xxl", expect="vda-xxl"))
    rows.append(stereo("{clip}", "--depth", "{pass}", "-o", "{out}/precious.mp4", expect="not made by depthshot",
                       setup=("precious.mp4",)))
    rows.append(stereo("{clip}", "--depth", "{pass}", "-o", "{out}/s.avi", expect=".mp4"))
    rows.append(stereo("{clip}", "--depth", "{pass}", "-o", "{out}/file/s.mp4", expect="", setup=("file",)))

    for command, out in (("core.pointcloud", "{out}/pc"), ("core.mesh", "{out}/m")):
        rows += [Row(command, ("{%s}" % p, "-o", out), expect="") for p in PASSES]
        rows += [Row(command, ("{%s}" % v, "-o", out), expect="") for v in ("missing", "text", "empty", "folder")]
        for opts, expect in [(("--stride", "0"), "stride"), (("--frames", "999"), "outside"),
                             (("--frames", "3-1"), "empty"), (("--fov", "nan"), "field of view")]:
            rows.append(Row(command, ("{pass}", "-o", out, *opts), expect=expect))
        rows.append(Row(command, ("{pass}", "-o", "{out}/file"), expect="not a folder", setup=("file",)))
        rows.append(Row(command, ("{pass}", "-o", "{out}/file/sub"), expect="", setup=("file",)))
    rows.append(Row("core.mesh", ("{pass}", "-o", "{out}/m", "--stride", "100000"), expect="stride"))

    def worker(job: dict | str, expect: str) -> Row:
        line = job if isinstance(job, str) else json.dumps({"type": "start", "protocol": PROTOCOL_VERSION, "job": job})
        return Row("core.worker", (), expect=expect, stdin=line + "\n", strict=False)

    base = {"input": "{clip}", "output": "{out}/p", "model": "vda-s", "weights": "{weights_ok}", "device": "cpu",
            "input_size": 70}
    rows += [
        worker("not json", "not JSON"),
        worker({**base, "input_size": "big"}, "input-size"),
        worker({**base, "start": 0.5, "end": 0.2}, "after --start"),
        worker({**base, "start": float("nan")}, "--start"),
        worker({**base, "colour": "red"}, "unknown job fields"),
        worker({**base, "input": "{missing}"}, "no such file"),
        worker({**base, "device": "tpu"}, "unknown device"),
        # found while the job gets under way (stdin closes right after the request: the error, not "stopped")
        worker({**base, "weights": "{weights}"}, "cannot read weights"),
        worker({**base, "weights": "{missing}"}, "weights file not found"),
        worker({**base, "start": 100}, "past the end"),
    ]
    rows += [
        Row("core.depth.import_depth", ("{folder}", "-o", "{out}/i"), expect="no depth frames"),
        Row("core.depth.import_depth", ("{missing}", "-o", "{out}/i"), expect=""),
        Row("core.viewer", ("{folder}", "--screenshots", "{out}/v"), expect=""),
    ]
    return rows


ROWS = _rows()


@pytest.fixture(scope="module")
def commands():
    c = Commands()
    yield c
    c.close()


def _fill(arg: str, inputs: dict[str, Path], out: Path) -> str:
    names = {k: str(v) for k, v in inputs.items()} | {"out": str(out), "pass": str(inputs["pass"])}
    for k, v in names.items():
        arg = arg.replace("{%s}" % k, v)
    return arg


def test_every_refusal_is_one_line_and_leaves_no_trace(inputs, commands, tmp_path):
    """The whole table in one test (one fork per row); failures are collected and reported together."""
    before = snapshot(next(iter(inputs.values())).parent)
    failures = []
    for k, row in enumerate(ROWS):
        out = tmp_path / f"row{k}"
        out.mkdir()
        for name in row.setup:
            (out / name).write_bytes(b"precious")
        made = snapshot(out)
        args = [_fill(a, inputs, out) for a in row.args]
        stdin = _fill(row.stdin, inputs, out) if row.stdin else None
        r = commands(row.command, *args, stdin=stdin)
        lines = [line for line in r.stderr.splitlines() if line.strip()]
        errors = [line for line in lines if line.startswith("error: ")]
        problems = []
        if r.returncode != 2:
            problems.append(f"exit {r.returncode}")
        if "Traceback" in r.stderr or len(errors) != 1 or not lines or lines[-1] != errors[0]:
            problems.append("not one error line")
        elif row.strict and len(lines) != 1:
            problems.append("more than the error line")
        elif row.expect and row.expect.lower() not in errors[0].lower():
            problems.append(f"error does not mention {row.expect!r}")
        if snapshot(out) != made:
            problems.append(f"left {sorted(set(snapshot(out)) - set(made))}")
        if problems:
            failures.append(f"{row.command} {' '.join(row.args)}: {', '.join(problems)}\n    {r.stderr.strip()[-400:]}")
    assert snapshot(next(iter(inputs.values())).parent) == before, "an input was modified"
    assert not failures, f"{len(failures)} of {len(ROWS)} rows:\n" + "\n".join(failures)

