"""Benchmarks for layerserve: `make bench` runs bench.run."""
