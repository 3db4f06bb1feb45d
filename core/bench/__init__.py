"""Benchmarks (``python -m core.bench NAME``): speed and memory figures for the README."""
