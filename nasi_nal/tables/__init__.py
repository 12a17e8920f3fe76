"""Benchmark tables: NAS-Bench-101 and NAS-Bench-201 results, queried by cell."""
