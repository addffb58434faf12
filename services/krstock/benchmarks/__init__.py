"""Benchmarks behind ``krstock bench``; each compares against a same-run baseline."""
