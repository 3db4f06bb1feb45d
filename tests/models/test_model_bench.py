"""The model benchmark's measurement helpers (the figures themselves come from ``python -m core.bench model``)."""

from __future__ import annotations

import torch

from core.bench.model import Measurement, deviation, format_table, synthetic_clip


def test_deviation_is_relative_to_the_reference_range() -> None:
    ref = torch.tensor([0.0, 2.0, 4.0])
    max_dev, mean_dev = deviation(torch.tensor([0.0, 2.5, 4.0]), ref)
    assert max_dev == 0.125
    assert abs(mean_dev - 0.5 / 3 / 4) < 1e-7


def test_synthetic_clip_is_normalised_and_moving() -> None:
    clip = synthetic_clip(3, 28, 42)
    assert clip.shape == (1, 3, 3, 28, 42) and clip.dtype == torch.float32
    assert not torch.equal(clip[0, 0], clip[0, 1])
    assert -2.2 < float(clip.min()) and float(clip.max()) < 2.7


def test_table_lists_every_measurement() -> None:
    rows = [
        Measurement("cpu", "vits", "fp32", 8, 140, 252, 2.0),
        Measurement("cuda", "vitl", "bf16", 32, 518, 518, 0.5, max_dev=0.012, mean_dev=0.001, peak_gib=9.5),
    ]
    table = format_table(rows).splitlines()
    assert len(table) == 4
    assert table[2] == "| cpu | vits | fp32 | 8x140x252 | 2.000 | 4.00 | - | - | - |"
    assert table[3] == "| cuda | vitl | bf16 | 32x518x518 | 0.500 | 64.00 | 1.20e-02 | 1.00e-03 | 9.5 |"
