"""The network: backbone, aggregation modules, losses and named variants."""

from stmanet.models.backbone import ResNet3D
from stmanet.models.losses import LossTerms, spatial_diversity, stmanet_loss, temporal_diversity
from stmanet.models.registry import create_model, list_models, model_config
from stmanet.models.stmanet import STMANet, STMANetOutput

__all__ = [
    "LossTerms",
    "ResNet3D",
    "STMANet",
    "STMANetOutput",
    "create_model",
    "list_models",
    "model_config",
    "spatial_diversity",
    "stmanet_loss",
    "temporal_diversity",
]
