"""Runners: one interface (model input in, float outputs out) over every engine that can run a model."""

from edgepose.runtime.runner import ENGINES, Runner, open_runner

__all__ = ["ENGINES", "Runner", "open_runner"]
