"""seqtune: transfer learning on DNA sequences, measured honestly against training from scratch."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("seqtune")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0+unknown"

from .errors import SeqtuneError

__all__ = ["SeqtuneError", "__version__"]
