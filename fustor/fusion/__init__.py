"""Layer 4: the fusion process: sessions, leaders, fusion pipes, views, queries."""

from .config import FusionConfig, load_fusion_config
from .service import FusionService

__all__ = ["FusionConfig", "FusionService", "load_fusion_config"]
