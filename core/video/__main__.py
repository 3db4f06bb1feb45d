"""``python -m core.video``: inspect a video, or re-encode it through the same streaming path the tools use.

    python -m core.video info clip.mp4
    python -m core.video transcode clip.mov out.mp4 --codec h265 --crf 20 --start 5 --end 12 --size 1280x720

A transcode keeps the audio, subtitles (languages, titles, flags), chapters, colour tags and HDR10 metadata; an
interrupted one continues where it stopped when run again (pieces in ``.<output name>.work/``).
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import sys
from collections.abc import Sequence

import numpy as np
from tqdm import tqdm

from core.cli import run_main, setup_logging
from core.video import EncodeSettings, SegmentedWriter, prefetch, probe, read_frames
from core.video.convert import bit_depth
from core.video.writer import CODECS

_SEGMENT_SECONDS = 10.0  # an interrupted transcode resumes after the last finished piece of this length


def _deep(image: np.ndarray) -> np.ndarray:
    """(H, W, 3) float32 in [0, 1] -> uint16 (what the writer takes for deep formats)."""
    return (image * 65535.0 + 0.5).astype(np.uint16)


def _size(text: str) -> tuple[int, int]:
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT, got {text!r}") from None
    return width, height


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m core.video", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    commands = parser.add_subparsers(dest="command", required=True)
    info = commands.add_parser("info", help="print what a video holds, as JSON")
    info.add_argument("input")
    info.add_argument("--count-frames", action="store_true", help="count packets when the container has no count")
    job = commands.add_parser("transcode", help="re-encode, keeping audio/subtitles/colour tags")
    job.add_argument("input")
    job.add_argument("output")
    job.add_argument("--codec", default="auto", choices=CODECS,
                     help="auto (default): h264, or h265 Main10 for sources deeper than 8 bits; ffv1 needs .mkv, "
                          "prores .mov or .mkv")
    job.add_argument("--crf", type=int, default=18)
    job.add_argument("--preset", default="medium")
    job.add_argument("--pix-fmt", default=None,
                     help="default: what plays everywhere (yuv420p = 8-bit H.264 High / H.265 Main; yuv420p10le for "
                          "H.265 from 10-bit sources). Options: yuv444p (H.264 High 4:4:4), yuv420p10le (H.264 "
                          "High 10 / H.265 Main10), rgb24, ...")
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
    deep = info.bit_depth > 8 and bit_depth(settings.resolved(info.bit_depth).encoder()[1]) > 8
    frames = read_frames(args.input, start=args.start, end=args.end, size=args.size,
                         dtype="float32" if deep else "uint8")
    with SegmentedWriter(
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
        segment_frames=max(1, round(_SEGMENT_SECONDS * info.fps)),
        fingerprint={"size": args.size},
    ) as out:
        total = round(((args.end or info.duration) - (args.start or 0)) * info.fps)
        todo = itertools.islice(prefetch(frames), out.resume_point, None)
        for frame in tqdm(todo, total=total, initial=out.resume_point, unit="frame", disable=not sys.stderr.isatty()):
            out.write(_deep(frame.image) if deep else frame.image, frame.pts)
    return 0


if __name__ == "__main__":
    raise SystemExit(run_main(main))
