"""Layer 2: the wire protocol (sans-I/O) and its websocket adapter."""

from .protocol import DEFERRED, Grant, MemoryPeer, Peer, ServerProtocol
from .wire import CONTROL_PATH, MAX_FRAME, PIPE_PATH, PROTOCOL_VERSION, Code, WireError

__all__ = [
    "CONTROL_PATH",
    "DEFERRED",
    "MAX_FRAME",
    "PIPE_PATH",
    "PROTOCOL_VERSION",
    "Code",
    "Grant",
    "MemoryPeer",
    "Peer",
    "ServerProtocol",
    "WireError",
]
