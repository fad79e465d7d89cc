"""Layer 4: the agent process: pipes from a watched source to fusion."""

from .bus import BusGroup, Subscription
from .config import AgentConfig, load_agent_config
from .pipe import AgentPipe
from .service import AgentService

__all__ = ["AgentConfig", "AgentPipe", "AgentService", "BusGroup", "Subscription", "load_agent_config"]
