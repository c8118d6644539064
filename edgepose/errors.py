"""The one error tree of edgepose.

Every failure that the user can fix (a bad config, a malformed dataset, a model with an unsupported op,
a board that does not answer) is raised as an ``EdgeposeError`` subclass whose message is one line that
names the file, key, op or port and says what to do. Only ``edgepose.cli.main`` turns these into exit
codes, so library code stays usable from Python without ``sys.exit`` surprises.
"""


class EdgeposeError(Exception):
    """Base class: a problem the user can fix. The CLI prints ``error: <message>`` and exits with 2."""

    exit_code = 2


class ConfigError(EdgeposeError):
    """An experiment config or a board definition is malformed: unknown key, wrong type, missing file."""


class DataError(EdgeposeError):
    """A dataset, calibration set or image cannot be used as given."""


class ModelError(EdgeposeError):
    """A model file is missing, corrupt, or does not fit what was asked of it."""


class UnsupportedOpError(ModelError):
    """A model uses ops or types that the chosen converter, quantizer or code generator cannot handle."""


class BoardError(EdgeposeError):
    """A board is unknown, or a model does not fit it."""


class DeviceError(EdgeposeError):
    """A device or link misbehaved: no answer, a reset mid-run, another protocol version."""


class RunError(EdgeposeError):
    """A run directory cannot be created or reused as asked."""
