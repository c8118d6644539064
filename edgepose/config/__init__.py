"""The experiment config: schema (``schema``), value types (``types``), loading and overrides (``loader``)."""

from edgepose.config.loader import dump_config, load_config, parse_override
from edgepose.config.schema import Config

__all__ = ["Config", "dump_config", "load_config", "parse_override"]
