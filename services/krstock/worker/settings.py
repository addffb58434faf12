"""Transitional shim: the worker settings are ``krstock.config.get_settings().worker`` now.

Kept only until ``krstock.worker.tasks``/``execution`` and ``krstock.bus`` read the section
directly; then delete.
"""

from __future__ import annotations

from krstock.config import WorkerSection, get_settings

PipelineSettings = WorkerSection


def get_pipeline_settings() -> WorkerSection:
    return get_settings().worker
