"""ST-MANet engine: the network, its checkpoints, data and training. Never imports Qt."""

from stmanet.errors import STMANetError

__version__ = "0.1.0"

__all__ = ["STMANetError", "__version__"]
