"""Transitional: moved to ``krstock.output`` (a layer every module may use); kept until
``krstock.benchmarks.scan_db`` imports it from there."""

from krstock.output import emit_json, progress_bar, stderr_console

__all__ = ["emit_json", "progress_bar", "stderr_console"]
