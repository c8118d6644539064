"""edgepose: compact heatmap pose models from training all the way onto edge hardware.

The library is organised in rooms with one job each (see docs/architecture.md); the CLI in
``edgepose.cli`` is a thin layer over it. Importing ``edgepose`` is cheap: TensorFlow and the
runtimes are imported only by the modules that need them.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("edgepose")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"

__all__ = ["__version__"]
