"""``python -m core.video``: inspect a video, or re-encode it through the same streaming path the tools use.

    python -m core.video info clip.mp4
    python -m core.video transcode clip.mov out.mp4 --codec h265 --crf 20 --start 5 --end 12 --size 1280x720
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections.abc import Sequence

from tqdm import tqdm

from core.cli import ArgumentParser, run_main, setup_logging
from core.video import EncodeSettings, VideoWriter, prefetch, probe, read_frames


def _size(text: str) -> tuple[int, int]:
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT, got {text!r}") from None
    return width, height


def _parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(prog="python -m core.video", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    commands = parser.add_subparsers(dest="command", required=True)
    info = commands.add_parser("info", help="print what a video holds, as JSON")
    info.add_argument("input")
    info.add_argument("--count-frames", action="store_true", help="count packets when the container has no count")
    job = commands.add_parser("transcode", help="re-encode, keeping audio/subtitles/colour tags")
    job.add_argument("input")
    job.add_argument("output")
    job.add_argument("--codec", default="h264", choices=["h264", "h265", "ffv1", "prores"])
    job.add_argument("--crf", type=int, default=18)
    job.add_argument("--preset", default="medium")
    job.add_argument("--pix-fmt", default=None, help="yuv420p, yuv444p, yuv420p10le, rgb24, ... (default: codec's)")
    job.add_argument("--start", type=float, default=None, help="seconds")
    job.add_argument("--end", type=float, default=None, help="seconds")
    job.add_argument("--size", type=_size, default=None, help="WIDTHxHEIGHT of the output")
    job.add_argument("--no-audio", action="store_true")
    job.add_argument("--no-subtitles", action="store_true")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    setup_logging(args.verbose)
    if args.command == "info":
        info = probe(args.input, count_frames=args.count_frames)
        fields = dataclasses.asdict(info)
        fields.update(path=str(info.path), rate=str(info.rate), time_base=str(info.time_base))
        print(json.dumps(fields, indent=2))
        return 0
    info = probe(args.input)
    width, height = args.size or (info.width, info.height)
    settings = EncodeSettings(codec=args.codec, crf=args.crf, preset=args.preset, pix_fmt=args.pix_fmt)
    frames = read_frames(args.input, start=args.start, end=args.end, size=args.size)
    with VideoWriter(
        args.output,
        width,
        height,
        info.rate,
        settings,
        source=args.input,
        copy_audio=not args.no_audio,
        copy_subtitles=not args.no_subtitles,
        start=args.start,
        end=args.end,
    ) as out:
        total = round(((args.end or info.duration) - (args.start or 0)) * info.fps)
        for frame in tqdm(prefetch(frames), total=total, unit="frame", disable=not sys.stderr.isatty()):
            out.write(frame.image, frame.pts)
    return 0


if __name__ == "__main__":
    raise SystemExit(run_main(main))
