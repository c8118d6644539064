"""Runners: one interface (model input in, float heatmaps out) over every engine that can run a model."""

from edgepose.runtime.runner import Runner, open_runner

__all__ = ["Runner", "open_runner"]
