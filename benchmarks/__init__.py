"""Benchmarks of the course's training recipes (run ``python -m benchmarks.recipes``)."""
