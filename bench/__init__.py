"""Benchmarks: ``python -m bench`` (engine, stages, sequential loop, pipeline, live latency, streams),
``python -m bench.decode`` (decoders) and ``python -m bench.soak`` (hours-long stability)."""
