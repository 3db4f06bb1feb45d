"""core.depth.chunks: splitting a long shot into overlapping chunks and joining them back."""

import numpy as np
import pytest

from core.depth.chunks import Chunk, ChunkJoin, split_shot


def test_split_shot_covers_the_shot_with_the_overlap():
    chunks = split_shot(10, 90, max_frames=40, overlap=16)
    assert [(c.start, c.end) for c in chunks] == [(10, 48), (32, 70), (54, 90)]
    assert chunks[0].first and not chunks[0].last and chunks[-1].last
    for a, b in zip(chunks, chunks[1:]):
        assert a.end - b.start == 16
    assert all(c.end - c.start <= 40 for c in chunks)
    assert split_shot(0, 40, 40, 16) == [Chunk(0, 40, 0, 40)]
    assert split_shot(0, 5000, None, 16) == [Chunk(0, 5000, 0, 5000)]
    with pytest.raises(ValueError):
        split_shot(0, 100, 30, 16)


@pytest.mark.parametrize("length, max_frames, overlap", [(60, 36, 16), (60, 40, 16), (61, 34, 16), (200, 40, 16)])
def test_shared_frames_of_consecutive_chunks_are_distinct(length, max_frames, overlap):
    """Chunk k shares ``overlap`` frames with chunk k-1 and others with chunk k+1, never the same ones (60 frames in
    chunks of 36 once made the two overlaps meet in frame 30, and the join refused it)."""
    chunks = split_shot(0, length, max_frames, overlap)
    assert chunks[0].start == 0 and chunks[-1].end == length and all(c.end - c.start <= max_frames for c in chunks)
    for a, b in zip(chunks, chunks[1:]):
        assert a.end - b.start == overlap
    for a, c in zip(chunks, chunks[2:]):
        assert a.end <= c.start  # the overlap with the chunk before ends where the one with the chunk after begins
    d = truth(length)
    out, _ = join(chunks, lambda c, i: d[i] * (1 + c.start / 100), overlap)
    assert [f[0] for f in out] == list(range(length))


@pytest.mark.parametrize("max_frames, overlap", [(40, 16), (36, 16), (33, 16), (1000, 16), (7, 2)])
def test_split_shot_invariants_for_every_length(max_frames, overlap):
    """Chunks tile the shot sharing exactly ``overlap`` frames, none is longer than ``max_frames``, and each one's
    blended head and held tail do not meet (every chunk but the last at least 2 x overlap, the last more than
    overlap)."""
    for length in range(1, 3 * max_frames + 5):
        chunks = split_shot(5, 5 + length, max_frames, overlap)
        assert chunks[0].start == 5 and chunks[-1].end == 5 + length
        assert all(c.end - c.start <= max_frames for c in chunks)
        if len(chunks) > 1:
            assert all(a.end - b.start == overlap for a, b in zip(chunks, chunks[1:]))
            assert all(c.end - c.start >= 2 * overlap for c in chunks[:-1])
            assert chunks[-1].end - chunks[-1].start > overlap


def truth(n: int, h: int = 6, w: int = 5) -> np.ndarray:
    rng = np.random.default_rng(0)
    return (1.0 + rng.random((n, h, w)) + np.linspace(0, 1, n)[:, None, None]).astype(np.float32)


def join(chunks, raw_of, overlap, metric=False):
    j = ChunkJoin(overlap, metric)
    out = [f for c in chunks for f in j.frames(c, lambda i, c=c: (raw_of(c, i), i / 24, None))]
    return out, j


@pytest.mark.parametrize("max_frames, overlap", [(40, 8), (33, 16)])
def test_chunks_off_by_a_scale_and_shift_join_back_to_the_sequence(max_frames, overlap):
    """Each chunk sees the true depth through its own affine map (what an affine-invariant model gives): the join
    undoes it exactly, cross-fades equal frames, and emits every frame once, in order, with its pts."""
    d = truth(90)
    chunks = split_shot(0, 90, max_frames, overlap)
    assert len(chunks) >= 3
    maps = {c.start: (1.0, 0.0) if c.first else (0.5 + 0.3 * k, -0.2 * k) for k, c in enumerate(chunks)}
    out, j = join(chunks, lambda c, i: (d[i] - maps[c.start][1]) / maps[c.start][0], overlap)
    assert [f[0] for f in out] == list(range(90)) and [f[2] for f in out] == [i / 24 for i in range(90)]
    np.testing.assert_allclose(np.stack([f[1] for f in out]), d, rtol=5e-5)  # float32 sums, as the engine
    np.testing.assert_allclose(j.fits, [maps[c.start] for c in chunks[1:]], atol=1e-4)


def test_one_chunk_passes_through_unchanged_and_metric_is_not_fitted():
    d = truth(30)
    out, _ = join(split_shot(0, 30, 40, 8), lambda c, i: d[i], 8)
    assert all(np.shares_memory(f[1], d) for f in out)  # the staged arrays themselves: the pass is byte-identical
    chunks = split_shot(0, 90, 40, 8)
    d = truth(90)
    out, j = join(chunks, lambda c, i: d[i] * (1 if c.first else 2), 8, metric=True)
    assert j.fits == []
    np.testing.assert_array_equal(out[-1][1], d[-1] * 2)  # metres are not rescaled
