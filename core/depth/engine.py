"""Drives VDA over a shot as a stream: frames in, aligned depth frames out, with encoder-feature reuse.

``VdaRunner`` holds the model and does the tensor work of one window (pre-processing, encoding, temporal
decoding, resize back to the frame size). ``ShotDepth`` is the per-shot state machine: it buffers at most
one window of frames, runs a window whenever 32 positions are filled, feeds the stitcher and returns finished frames.
Windows run ahead of the stitching: window k is resized, downloaded (asynchronously on CUDA) and stitched on a
thread of its own while window k+1 goes through the network, so only the stitching is sequential.

Every frame is encoded exactly once: the 10 key positions a window takes over from the previous one reuse that
window's features, so window 0 encodes 32 frames and every later window only its 22 new ones (in chunks of
``encode_batch``, chosen from the tokens per frame and the free memory). Batch composition can change the last bits of the features, so a resumed job re-encodes the
last window's batch exactly as it was encoded, in the batch sizes the first run chose (see ``ShotDepth.from_state``),
and stays bit-identical.
"""

from __future__ import annotations

import contextlib
import copy
import importlib.util
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from core.depth.stitch import Stitcher
from core.devices import resolve_device
from core.errors import DepthshotError
from core.depth.windows import KEY_POSITIONS, OVERLAP, STEP, WINDOW
from core.models.vda import VideoDepthAnything
from core.models.vda.preprocess import network_size, preprocess
from core.models.vda.stream_cache import StreamCache

PRECISIONS = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
PRECISION_CHOICES = ("auto", *PRECISIONS)
_WORK_FRACTION = 0.4  # share of the free memory one batch's activations may take
_MAX_BATCH = WINDOW


def resolve_precision(precision: str, device: str | torch.device) -> str:
    """What ``auto`` means on ``device``: bf16 autocast on a GPU that supports it, fp16 on other GPUs, fp32 on the
    CPU. Explicit choices are returned unchanged."""
    if precision not in PRECISION_CHOICES:
        raise ValueError(f"precision must be one of {', '.join(PRECISION_CHOICES)}, not {precision!r}")
    if precision != "auto":
        return precision
    if torch.device(device).type != "cuda":
        return "fp32"
    # native bf16 from compute capability 8 (Ampere) on; older GPUs would only emulate it, slowly
    return "bf16" if torch.cuda.get_device_capability(device)[0] >= 8 else "fp16"


def free_memory(device: torch.device) -> int:
    """Bytes free for activations on ``device``: the GPU's free memory (with what torch holds cached but unused),
    or the host's available memory."""
    if device.type == "cuda":
        cached = torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device)
        return int(torch.cuda.mem_get_info(device)[0]) + cached
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 4 << 30


@dataclass(frozen=True)
class BatchSizes:
    """Frames per encoder call and per call of the head's full-resolution stages."""

    encode: int
    decode: int


def batch_sizes(model: VideoDepthAnything, th: int, tw: int, precision: str, free_bytes: int) -> BatchSizes:
    """Batch sizes for network input ``th`` x ``tw`` from the work per frame and the free memory.

    Per frame the encoder holds about 12 token-sized activations and (where attention is not fused) one
    attention matrix per head; the head's full-resolution stages about 8 feature maps of ``features`` channels at
    half the input size. A batch may take ``_WORK_FRACTION`` of ``free_bytes``; at most a window (32 frames),
    at least one frame.
    """
    cfg = model.config
    itemsize = 4 if precision == "fp32" else 2
    tokens = (th // 14) * (tw // 14) + 1
    encoder = tokens * cfg.embed_dim * itemsize * 12 + tokens * tokens * cfg.num_heads * 4
    head = (th // 2) * (tw // 2) * cfg.features * 4 * 8
    budget = free_bytes * _WORK_FRACTION
    def fit(per_frame: int) -> int:
        return int(max(1, min(_MAX_BATCH, budget // max(per_frame, 1))))
    return BatchSizes(encode=fit(encoder), decode=fit(head))


@contextlib.contextmanager
def _true_fp32() -> Iterator[None]:
    """fp32 on CUDA means fp32 matmuls and convolutions (no TF32), as the fixtures' parity needs; restored after."""
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


class VdaRunner:
    """One VDA model on one device at one precision and network input size: where every device decision is made.

    ``precision="auto"`` resolves with ``resolve_precision``; ``encode_batch``/``decode_chunk`` left at None are
    chosen per frame size by ``batch_sizes`` from the free memory when first needed (a resumed job passes the
    sizes its first run used, so it encodes the same batches bit for bit). ``compile``: run the encoder and the
    head through ``torch.compile`` (the window shapes are fixed, so it compiles once per shape).
    """

    def __init__(
        self,
        model: VideoDepthAnything,
        input_size: int,
        device: str | None = "cpu",
        precision: str = "auto",
        encode_batch: int | None = None,
        decode_chunk: int | None = None,
        compile: bool = False,
    ) -> None:
        self.device = torch.device(resolve_device(device))
        self.precision = resolve_precision(precision, self.device)
        self.model = model.eval()
        self.input_size = input_size
        self.encode_batch = encode_batch  # frames per encoder call (bounds activation memory)
        self.decode_chunk = decode_chunk  # frames per call of the head's full-resolution stages (bounds memory)
        self.compile = compile
        if compile and self.device.type == "cuda" and importlib.util.find_spec("triton") is None:
            raise DepthshotError("--compile on CUDA needs Triton (pip install triton), which is not installed")
        self._encode = torch.compile(model.encode, dynamic=False) if compile else model.encode
        self._decode = torch.compile(model.decode, dynamic=False) if compile else model.decode

    def describe(self) -> dict[str, object]:
        """What ran, for the manifest: device, resolved precision, batch sizes, compile."""
        return {"device": str(self.device), "precision": self.precision, "encode_batch": self.encode_batch,
                "decode_chunk": self.decode_chunk, "compile": self.compile}

    def _batches(self, height: int, width: int) -> None:
        if self.encode_batch is None or self.decode_chunk is None:
            th, tw = network_size(height, width, self.input_size)
            sizes = batch_sizes(self.model, th, tw, self.precision, free_memory(self.device))
            self.encode_batch = self.encode_batch or sizes.encode
            self.decode_chunk = self.decode_chunk or sizes.decode

    def autocast(self) -> contextlib.AbstractContextManager:
        """The precision context of this runner's network calls (fp32: true fp32, no TF32, on CUDA)."""
        if self.precision == "fp32":
            return _true_fp32() if self.device.type == "cuda" else contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=PRECISIONS[self.precision])

    def encode(self, frames: Sequence[np.ndarray] | np.ndarray) -> list[torch.Tensor]:
        """Encoder features of N uint8 RGB frames [H, W, 3] (a list or an array [N, H, W, 3]): 4 tensors
        [N, h*w, C] on the device.

        Frames are uploaded as uint8 and pre-processed on the device one at a time (a window of full-size float
        frames would be fresh memory every time: 800 MB at 1080p), then encoded in consecutive chunks of
        ``encode_batch``; the same frames give the same bits.
        """
        self._batches(*frames[0].shape[:2])
        chunks = []
        with torch.inference_mode(), self.autocast():
            for i in range(0, len(frames), self.encode_batch):
                batch = frames[i : i + self.encode_batch]
                x = torch.cat([preprocess(f[None], self.input_size, self.device) for f in batch])
                chunks.append(self._encode(x))
        return [torch.cat(layer) for layer in zip(*chunks)]

    def network_output(
        self, features: list[torch.Tensor], height: int, width: int, cache: StreamCache | None = None
    ) -> torch.Tensor:
        """Decode one window's features (32 frames of an H x W video) to float32 [32, th, tw] (network size).

        ``cache``: streaming mode, one frame's features attending to the stream's cached frames ([1, th, tw]);
        not compiled (the cache grows for the first 42 frames).
        """
        self._batches(height, width)
        th, tw = network_size(height, width, self.input_size)
        decode = self._decode if cache is None else self.model.decode
        with torch.inference_mode(), self.autocast():
            out = decode(features, 1, features[0].shape[0], th, tw, frames_per_chunk=self.decode_chunk, cache=cache)
        return out[0].float()

    def start_depth(
        self, features: list[torch.Tensor], height: int, width: int, cache: StreamCache | None = None
    ) -> Callable[[], list[np.ndarray]]:
        """Start one window's raw depth at the frame size; returns a function (callable from any thread, once) that
        waits for it and gives its frames, float32 [H, W] each (bilinear resize, align_corners=True).

        On CUDA the resize runs on the device and the result is copied into pinned memory without blocking (the
        function waits for the copy's event); elsewhere the resize (and the download) is left to the function,
        frame by frame.
        ``cache``: streaming mode (one frame), see ``network_output``.
        """
        out = self.network_output(features, height, width, cache)
        size = (height, width)
        if self.device.type == "cuda":
            with torch.inference_mode():
                full = F.interpolate(out[:, None], size=size, mode="bilinear", align_corners=True)[:, 0]
                host = torch.empty(full.shape, dtype=full.dtype, pin_memory=True)
                host.copy_(full, non_blocking=True)
                copied = torch.cuda.Event()
                copied.record(torch.cuda.current_stream(self.device))

            def downloaded() -> list[np.ndarray]:
                copied.synchronize()
                return list(host.numpy())

            return downloaded

        def resized() -> list[np.ndarray]:  # .cpu(): a no-op on the CPU, the download on other devices (mps)
            with torch.inference_mode():
                return [F.interpolate(o[None, None], size=size, mode="bilinear", align_corners=True)[0, 0].cpu()
                        .numpy() for o in out]

        return resized

    def window_depth(
        self, features: list[torch.Tensor], height: int, width: int, cache: StreamCache | None = None
    ) -> list[np.ndarray]:
        """Raw depth of one window resized to the frame size: 32 frames float32 [H, W] (``start_depth``, waited
        for). ``cache``: streaming mode (one frame), see ``network_output``."""
        return self.start_depth(features, height, width, cache)()


@dataclass
class WindowRecord:
    """What one window did (for tests and diagnostics): its 32 input frames, raw maps and fit."""

    frames: np.ndarray  # uint8 [32, H, W, 3]
    raw: np.ndarray  # float32 [32, H, W]
    scale_shift: tuple[float, float] | None


@dataclass
class _Stitched:
    """A window that went through the network and the stitcher (on the stitching thread)."""

    frames: list[np.ndarray]  # its 32 uint8 inputs [H, W, 3]
    raw: list[np.ndarray]  # its 32 raw maps [H, W]
    done: list[np.ndarray]  # the frames it made final [H, W]
    stitcher: Stitcher  # the stitcher's state right after it (a shallow copy: its arrays are never changed)
    received: int  # shot frames the network had received when it ran


class ShotDepth:
    """Streaming long-video depth for one shot.

    ``push(frame, pts)`` returns the frames that became final as ``(index in shot, depth float32 [H, W], pts)``;
    ``finish()`` pads the shot, runs what is left and returns the rest. Window k is stitched on a thread of its own
    while window k+1 goes through the network, so its frames are returned when window k+1 has run (``finish()``
    returns everything left). Memory: two windows of frames and raw maps, one of features, plus ten depth maps.

    Resuming: once a window's frames have been returned, ``state()`` (small) and ``anchor()`` (the shot's first
    frame and its features, constant for the shot) describe everything up to that window (``windows`` counts
    them); ``from_state`` rebuilds the engine from them and the frames of that window's encoded batch
    (``batch_frames`` frames ending at ``state()["received"]``), which it re-encodes exactly as they were encoded
    the first time, so the continued run is bit-identical.
    """

    def __init__(
        self,
        runner: VdaRunner,
        metric: bool,
        reuse_features: bool = True,
        on_window: Callable[[WindowRecord], None] | None = None,
    ) -> None:
        self.runner = runner
        self.reuse_features = reuse_features
        self.on_window = on_window
        self.stitcher = Stitcher(metric=metric)
        self.received = 0
        self._launched = 0  # windows through the network
        self._keys: list[np.ndarray] | None = None  # uint8 10 x [H, W, 3]: next window's positions 0..9
        self._key_features: list[torch.Tensor] | None = None
        self._anchor: tuple[np.ndarray, list[torch.Tensor]] | None = None  # shot frame 0 and its features
        self._new: list[np.ndarray] = []
        self._pts: deque[float] = deque()  # pts of frames received but not yet returned
        self._stitching: Future[_Stitched] | None = None  # the window on the stitching thread
        self._last: tuple[Stitcher, int, list[float]] | None = None  # (stitcher, received, pts) after the last
        self._thread: ThreadPoolExecutor | None = None  # window returned

    @property
    def windows(self) -> int:
        """Windows whose frames have been returned."""
        return self._last[0].windows if self._last is not None else 0

    @property
    def batch_frames(self) -> int:
        """Frames the last returned window encoded (32 for window 0, 22 after): what a resume must re-decode."""
        return WINDOW if self.windows <= 1 else WINDOW - OVERLAP

    def _capacity(self) -> int:
        return WINDOW if self._keys is None else WINDOW - OVERLAP

    def push(self, frame: np.ndarray, pts: float) -> list[tuple[int, np.ndarray, float]]:
        """Add the shot's next frame (uint8 RGB [H, W, 3], pts seconds); return the frames that became final."""
        self._new.append(frame)
        self._pts.append(pts)
        self.received += 1
        if len(self._new) < self._capacity():
            return []
        return self._run_window()

    def finish(self) -> list[tuple[int, np.ndarray, float]]:
        """End of shot: pad with the last frame, run the windows that still matter, return the remaining frames."""
        out: list[tuple[int, np.ndarray, float]] = []
        n = self.received
        if n == 0:
            return out
        last = self._new[-1] if self._new else self._keys[-1]
        # window k contributes only if the shot reaches frame 22k+3 (see windows.useful_windows)
        while self._launched == 0 or n - STEP * self._launched > 3:
            self._new += [last] * (self._capacity() - len(self._new))
            out += self._run_window()
        out += self._collect()
        if self._thread is not None:
            self._thread.shutdown()
            self._thread = None
        out += self._emit(self.stitcher.finish())
        return [item for item in out if item[0] < n]

    def _emit(self, depth: list[np.ndarray]) -> list[tuple[int, np.ndarray, float]]:
        first = self.stitcher.emitted - len(depth)
        out = []
        for j, d in enumerate(depth):
            pts = self._pts.popleft() if self._pts else float("nan")  # padding frames have no pts
            out.append((first + j, d, pts))
        return out

    def _encode_batch(self, new: list[np.ndarray]) -> list[torch.Tensor] | None:
        """Encode a window's new frames; set the anchor on window 0. Returns None without feature reuse."""
        if self._keys is None:
            features = self.runner.encode(new)
            self._anchor = (new[0].copy(), [f[:1].clone() for f in features])
            return features
        return self.runner.encode(new) if self.reuse_features else None

    def _set_keys(self, frames: list[np.ndarray], features: list[torch.Tensor] | None) -> None:
        keys = list(KEY_POSITIONS)
        self._keys = [frames[k] for k in keys]
        self._key_features = [f[keys] for f in features] if features is not None else None

    def _run_window(self) -> list[tuple[int, np.ndarray, float]]:
        """Run the buffered window through the network, return the previous window's frames, and hand this one
        to the stitching thread."""
        new, self._new = self._new, []
        first = self._keys is None
        frames = new if first else self._keys + new
        encoded = self._encode_batch(new)
        if first:
            features = encoded
        elif self.reuse_features:
            features = [torch.cat([k, f]) for k, f in zip(self._key_features, encoded)]
        else:
            features = self.runner.encode(frames)
        raw = self.runner.start_depth(features, *frames[0].shape[:2])
        self._set_keys(frames, features if self.reuse_features else None)
        self._launched += 1
        out = self._collect()
        if self._thread is None:
            self._thread = ThreadPoolExecutor(1, thread_name_prefix="depth-stitch")
        self._stitching = self._thread.submit(self._stitch, frames, raw, self.received)
        return out

    def _stitch(self, frames: list[np.ndarray], raw: Callable[[], list[np.ndarray]], received: int) -> _Stitched:
        """The stitching thread's work for one window: wait for its raw maps, stitch them."""
        maps = raw()
        done = self.stitcher.push(maps)
        return _Stitched(frames, maps, done, copy.copy(self.stitcher), received)

    def _collect(self) -> list[tuple[int, np.ndarray, float]]:
        """Wait for the window on the stitching thread; its final frames (none when there is no such window)."""
        if self._stitching is None:
            return []
        window, self._stitching = self._stitching.result(), None
        out = self._emit(window.done)
        pending = window.received - window.stitcher.emitted  # frames received by then, not yet returned
        self._last = (window.stitcher, window.received, list(self._pts)[:pending])
        if self.on_window is not None:
            self.on_window(WindowRecord(np.stack(window.frames), np.stack(window.raw), window.stitcher.scale_shift))
        return out

    def state(self) -> dict[str, np.ndarray]:
        """State right after the last window whose frames were returned: arrays for ``np.savez`` (a few depth
        maps)."""
        if self._last is None:
            raise ValueError("state is only defined once a window's frames have been returned")
        stitcher, received, pts = self._last
        return {
            **{f"stitch_{k}": v for k, v in stitcher.state().items()},
            "received": np.array(received, np.int64),
            "pts": np.array(pts, np.float64),
            "batch_sizes": np.array([self.runner.encode_batch, self.runner.decode_chunk], np.int64),
        }

    def anchor(self) -> dict[str, np.ndarray]:
        """The shot's first frame and its encoder features (float32 arrays), fixed once window 0 has run."""
        frame, features = self._anchor
        return {"frame": frame, **{f"layer{i}": f.float().cpu().numpy() for i, f in enumerate(features)}}

    @classmethod
    def from_state(
        cls,
        runner: VdaRunner,
        state: dict[str, np.ndarray],
        anchor: dict[str, np.ndarray],
        batch: np.ndarray,
        reuse_features: bool = True,
        on_window: Callable[[WindowRecord], None] | None = None,
    ) -> ShotDepth:
        """Rebuild a shot's engine from ``state()``, ``anchor()`` and the last encoded batch of frames
        (uint8 [batch_frames, H, W, 3], shot frames ``received - batch_frames .. received - 1``); then feed it the
        frames from ``received`` on."""
        stitch = {k[len("stitch_") :]: v for k, v in state.items() if k.startswith("stitch_")}
        shot = cls(runner, metric=bool(stitch["metric"]), reuse_features=reuse_features, on_window=on_window)
        shot.stitcher = Stitcher.from_state(stitch)
        shot.received = int(state["received"])
        shot._launched = shot.stitcher.windows
        if "batch_sizes" in state:  # encode in the batches the first run used: the same bits
            runner.encode_batch, runner.decode_chunk = (int(v) for v in state["batch_sizes"])
        shot._pts = deque(float(p) for p in state["pts"])
        shot._last = (copy.copy(shot.stitcher), shot.received, list(shot._pts))
        if len(batch) != shot.batch_frames:
            raise ValueError(f"expected the last {shot.batch_frames} frames, got {len(batch)}")
        layers = [torch.from_numpy(anchor[f"layer{i}"]).to(runner.device) for i in range(len(anchor) - 1)]
        shot._anchor = (np.array(anchor["frame"]), layers)
        features = runner.encode(batch) if reuse_features else None
        batch = list(batch)
        if shot.windows == 1:
            frames = batch
        else:  # window positions 0..9 came from earlier windows; only position 0 is a key again
            frames = [shot._anchor[0]] + [batch[0]] * (OVERLAP - 1) + batch
            if features is not None:
                features = [torch.cat([a.to(f.dtype), f[:1].expand(OVERLAP - 1, *f.shape[1:]), f])
                            for a, f in zip(layers, features)]
        shot._set_keys(frames, features)
        return shot
