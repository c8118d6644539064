"""The model zoo: compact heatmap pose models, by name.

Importing this package registers every family (``tiny``, ``mobilenetv2_heatmaps``, ``movenet_like``) without
importing TensorFlow; ``build_model`` imports Keras when it builds. ``edgepose.models.profile`` counts
parameters, MACs and activation memory of a built model.
"""

from edgepose.models import mobilenetv2_heatmaps, movenet_like, tiny  # noqa: F401  (registers the models)
from edgepose.models.registry import (
    ModelInfo,
    build_from_config,
    build_model,
    model_info,
    model_names,
    register_model,
)

__all__ = ["ModelInfo", "build_from_config", "build_model", "model_info", "model_names", "register_model"]
