"""``python -m core.stereo INPUT [-o OUTPUT] [options]``: convert a video to stereo 3D.

The output's folder is created when missing. An interrupted run (Ctrl-C, kill, crash) continues where it stopped
when the same command is run again: the depth engine resumes its pass and the encode resumes after its last
finished segment (kept in ``.<output name>.work/`` beside the output until the video is complete).

``python -m core.stereo A B ... [-o OUTDIR]``: one video per input (``OUTDIR/<default name>``, else beside each
input); a failed input is reported and the others go on. ``--ray [ADDRESS]``: the segments (and a missing depth
pass's shots) as Ray tasks (``core.cluster.stereo``).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from core.cli import (
    ArgumentParser,
    StageBars,
    add_ray_arguments,
    add_decode_errors_argument,
    check_number,
    check_window,
    connect_ray,
    input_source,
    ray_options,
    run_inputs,
    run_main,
    setup_logging,
)
from core.depth.engines import get_engine, make_config
from core.depth.job import DepthJob, add_engine_arguments
from core.errors import DepthshotError
from core.progress import OnProgress
from core.stereo.convert import StereoJob, default_output, run_stereo
from core.stereo.disparity import DisparityConfig
from core.stereo.layouts import LAYOUTS
from core.stereo.warp import DEFAULT_FILL, FILLS
from core.video import EncodeSettings
from core.video.writer import CODECS, X26X_PRESETS


def build_parser() -> argparse.ArgumentParser:
    p = ArgumentParser(
        prog="python -m core.stereo",
        description="Turn a video into stereo 3D (SBS, top-bottom, anaglyph, VR180) from its depth.",
    )
    p.add_argument("input", type=input_source, nargs="+",
                   help="input video(s) (with --live: one, also - for stdin, a pipe, a device, a URL)")
    p.add_argument("-o", "--output", type=Path, help="output video (.mp4/.mkv/.mov); default: INPUT + player tags "
                   "(several inputs: the folder that gets each input's video under its default name)")
    p.add_argument("--depth", type=Path, help="existing depth pass folder (default: run the depth engine)")
    p.add_argument("--layout", choices=LAYOUTS, default="sbs_full", help="frame packing (default sbs_full)")
    g = p.add_argument_group("depth to disparity")
    g.add_argument("--divergence", type=float, default=2.0, help="total parallax, %% of the width (default 2)")
    g.add_argument("--convergence", type=float, default=0.5, help="screen plane: 0 = far .. 1 = near (default 0.5)")
    g.add_argument("--auto-convergence", action="store_true", help="put the screen plane on the subject, smoothly")
    g.add_argument("--convergence-smoothing", type=float, default=1.0, metavar="S",
                   help="auto-convergence time constant in seconds (default 1)")
    g.add_argument("--disparity", choices=("relative", "metric"), default="relative",
                   help="relative (per-shot normalised) or metric (geometric; needs a metric pass)")
    g.add_argument("--screen-width", type=float, metavar="M", help="screen width in metres (caps parallax)")
    g.add_argument("--viewing-distance", type=float, metavar="M", help="viewing distance in metres")
    g.add_argument("--ipd", type=float, default=0.063, metavar="M", help="eye separation in metres (default 0.063)")
    g.add_argument("--fov", type=float, metavar="DEG",
                   help="horizontal field of view (metric, VR180); default: the pass's intrinsics, else 60")
    g = p.add_argument_group("view synthesis")
    g.add_argument("--eyes", choices=("both_half", "right_only"), default="both_half",
                   help="shift both eyes half-way (default) or keep the input as the left eye")
    g.add_argument("--dilate", type=int, default=0, metavar="PX", help="foreground edge dilation in pixels")
    g.add_argument("--border", choices=("fill", "black"), default="fill", help="screen-edge strips (default fill)")
    g.add_argument("--fill", choices=FILLS, default=DEFAULT_FILL,
                   help="disocclusions: stretch the background pixel, spatial (continue the background around the "
                        f"hole) or temporal (also from the previous frames of the shot); default {DEFAULT_FILL}")
    g.add_argument("--vr-eye-size", type=int, metavar="PX", help="VR180 eye size (default: source detail, max 2048)")
    g = p.add_argument_group("encoding")
    g.add_argument("--codec", choices=CODECS, default="auto",
                   help="auto (default): H.264 High, or H.265 Main10 for sources deeper than 8 bits; ffv1 needs "
                        ".mkv, prores .mov/.mkv")
    g.add_argument("--crf", type=int, default=18)
    g.add_argument("--encode-preset", default="medium", help="x264/x265 speed preset (default medium)")
    g.add_argument("--pix-fmt", help="default yuv420p (plays everywhere; yuv420p10le for H.265 from 10-bit "
                                      "sources); yuv444p = H.264 High 4:4:4 (sharper anaglyph edges), yuv420p10le "
                                      "with h264 = High 10: both play on fewer devices")
    g.add_argument("--start", type=float, metavar="S", help="start time in seconds")
    g.add_argument("--end", type=float, metavar="S", help="end time in seconds")
    g.add_argument("--segment-seconds", type=float, default=5.0, metavar="S",
                   help="encode in pieces of S seconds; an interrupted run resumes after the last one (default 5)")
    g.add_argument("--preview-frame", type=int, metavar="N", help="render only source frame N to a PNG")
    g.add_argument("--preview", type=Path, metavar="PNG", help="where --preview-frame writes")
    g = add_engine_arguments(p, "depth engine (without --depth)", device=False)
    g.add_argument("--device", default="auto", help="auto, cpu or cuda: the warp's and the engine's device")
    p.add_argument("--overwrite", action="store_true",
                   help="replace an existing OUTPUT that depthshot did not make (its own is replaced or reused)")
    add_decode_errors_argument(p)
    g = p.add_argument_group("live (streaming depth engine, frame in -> stereo frame out)")
    g.add_argument("--live", action="store_true",
                   help="read INPUT as a live stream (stdin '-', pipe, growing file, v4l2 device, URL) and write the "
                        "stereo video as it is made (-o FILE, or -o - for stdout)")
    g.add_argument("--timeout", type=float, default=10.0, metavar="S",
                   help="live: seconds without data before the source counts as stalled (default 10)")
    g.add_argument("--stream-format", choices=("matroska", "mpegts"), default="matroska",
                   help="live: container of a stream written to stdout (default matroska)")
    p.add_argument("--progress", choices=("bar", "jsonl"), default="bar",
                   help="bar (default): tqdm bars on stderr; jsonl: one JSON object per line on stdout (as "
                        "python -m core.depth), the output's path in the last one")
    add_ray_arguments(p)
    p.add_argument("-v", "--verbose", action="store_true")
    return p


_ENCODER_PRESETS = X26X_PRESETS


def job_from_args(args: argparse.Namespace) -> StereoJob:
    """Validate the parsed options and build the job of one input (DepthshotError on bad values; several inputs:
    ``jobs_from_args``)."""
    if isinstance(args.input, list):
        if len(args.input) != 1:
            raise DepthshotError(f"one input expected, got {len(args.input)}")
        args = argparse.Namespace(**{**vars(args), "input": args.input[0]})
    if args.preset in _ENCODER_PRESETS and args.preset != "fast":
        raise DepthshotError(f"--preset chooses the RollingDepth preset; for the encoder use --encode-preset {args.preset}")
    if args.live:
        if args.depth is not None or args.preview_frame is not None:
            raise DepthshotError("--live computes depth as it goes: it does not take --depth or --preview-frame")
        if args.timeout <= 0:
            raise DepthshotError(f"--timeout must be > 0 s, got {args.timeout}")
        if args.engine not in ("vda", "vda-stream"):
            raise DepthshotError(f"--live runs the streaming engine (vda-stream), not {args.engine}")
    elif isinstance(args.input, str):
        raise DepthshotError(f"{args.input}: a URL is a live source: add --live")
    elif args.input.is_dir():
        raise DepthshotError(f"{args.input}: is a folder, not a video file")
    elif not args.input.is_file():
        raise DepthshotError(f"{args.input}: no such file")
    check_window(args.start, args.end)
    check_number("--divergence", args.divergence, minimum=0)
    check_number("--convergence", args.convergence, minimum=0)
    if args.convergence > 1:
        raise DepthshotError(f"--convergence must be 0..1, got {args.convergence:g}")
    check_number("--convergence-smoothing", args.convergence_smoothing, above=0)
    for name in ("screen_width", "viewing_distance", "ipd"):
        check_number("--" + name.replace("_", "-"), getattr(args, name), above=0)
    check_number("--vr-eye-size", args.vr_eye_size, above=0, integer=True)
    check_number("--segment-seconds", args.segment_seconds, above=0)
    if args.codec in ("h264", "h265") and args.encode_preset not in X26X_PRESETS:
        raise DepthshotError(f"unknown --encode-preset {args.encode_preset!r} for {args.codec} "
                             f"(one of {', '.join(X26X_PRESETS)})")
    if args.depth is not None and not args.depth.exists():
        raise DepthshotError(f"{args.depth}: no such depth pass")
    if args.preview is not None and args.preview_frame is None:
        raise DepthshotError("--preview needs --preview-frame N")
    if args.preview_frame is not None and args.preview_frame < 0:
        raise DepthshotError(f"--preview-frame must be >= 0, got {args.preview_frame}")
    if args.dilate < 0:
        raise DepthshotError(f"--dilate must be >= 0, got {args.dilate}")
    if not 0 <= args.crf <= 51:
        raise DepthshotError(f"--crf must be 0..51, got {args.crf}")
    if args.segment_seconds <= 0:
        raise DepthshotError(f"--segment-seconds must be > 0, got {args.segment_seconds}")
    depth_job = DepthJob.from_args(args, args.input, args.input, device=None, start=args.start, end=args.end)
    make_config(get_engine(depth_job.engine), depth_job.engine_options())  # checked with --depth too
    disparity = DisparityConfig(
        divergence=args.divergence,
        convergence=args.convergence,
        auto_convergence=args.auto_convergence,
        smoothing_s=args.convergence_smoothing,
        mode=args.disparity,
        screen_width=args.screen_width,
        viewing_distance=args.viewing_distance,
        ipd=args.ipd,
    )
    return StereoJob(
        input=args.input,
        output=args.output,
        depth=args.depth,
        layout=args.layout,
        disparity=disparity,
        eyes=args.eyes,
        dilate=args.dilate,
        border=args.border,
        fill=args.fill,
        fov=args.fov,
        vr_eye_size=args.vr_eye_size,
        settings=EncodeSettings(codec=args.codec, crf=args.crf, preset=args.encode_preset, pix_fmt=args.pix_fmt),
        start=args.start,
        end=args.end,
        device=args.device,
        depth_job=depth_job,
        preview_frame=args.preview_frame,
        preview=args.preview,
        segment_seconds=args.segment_seconds,
        overwrite=args.overwrite,
        ignore_decode_errors=args.ignore_decode_errors,
    )


def jobs_from_args(args: argparse.Namespace) -> list[StereoJob]:
    """One job per input (``job_from_args``): several inputs write ``OUTPUT/<default name>`` (beside each input
    without ``-o``) and take no option that names one file (``--depth``, ``--preview``, ``--live``)."""
    inputs = args.input
    if len(inputs) == 1:
        return [job_from_args(args)]
    for flag, value in (("--depth", args.depth), ("--preview", args.preview), ("--live", args.live or None)):
        if value is not None:
            raise DepthshotError(f"{flag} is for one input, got {len(inputs)}")
    if args.output is None:
        outputs = [None] * len(inputs)
    else:
        from core.depth.__main__ import outputs_for

        outputs = outputs_for(inputs, args.output, lambda i: default_output(i, args.layout).name)
    return [job_from_args(argparse.Namespace(**{**vars(args), "input": i, "output": o}))
            for i, o in zip(inputs, outputs)]


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.verbose)
    jobs = jobs_from_args(args)
    options = ray_options(args)
    if args.live:
        if options is not None:
            raise DepthshotError("a live source is one input in one process (no --ray)")
        from core.stereo.live import run_live_stereo

        job = jobs[0]
        run = run_live_stereo(job, args.timeout, args.stream_format)
        print(run.report(), file=sys.stderr)
        if run.error is not None:
            raise run.error
        if str(job.output) != "-":
            print(job.output)
        return 0
    connect_ray(options)  # Ray missing or unreachable: one line, before any input is touched

    def run_one(job: StereoJob, on_progress: OnProgress) -> Path:
        if options is None:
            return run_stereo(job, on_progress=on_progress)
        from core.cluster.stereo import run_stereo_ray

        return run_stereo_ray(job, options, on_progress=on_progress)

    if len(jobs) == 1 and args.progress == "bar":
        with StageBars() as bars:
            print(run_one(jobs[0], bars))
        return 0
    from core.depth.__main__ import JobProgress

    progress = JobProgress(args.progress)  # one bar over all inputs, or JSON lines

    def run_input(job: StereoJob) -> None:
        key = str(job.input)
        out = run_one(job, progress.for_stages(key))
        progress.finished(key, out)
        if args.progress != "jsonl":
            print(out)

    try:
        if len(jobs) == 1:
            run_input(jobs[0])  # errors as the single-input command always reported them
            return 0
        return run_inputs(jobs, run_input, name=lambda j: str(j.input), parallel=4 if options is not None else 1)
    finally:
        progress.close()


if __name__ == "__main__":
    sys.exit(run_main(main))
