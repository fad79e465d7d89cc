"""The FS view engine: the arbitrated in-memory tree fusion keeps per view.

Pure and synchronous: feed it events and lifecycle signals, read it with
queries. See CONSISTENCY.md for the rules it implements and
``docs/view-engine.md`` for the choices made where the rules are silent.
"""

from .arbitrator import ListingContext
from .audit import AuditReport, wait_drained
from .config import FSViewConfig
from .query import SORTS, ViewQuery
from .state import Suspect, Tombstone
from .tree import DirNode, Node, Tree
from .view import FSView

__all__ = [
    "SORTS",
    "AuditReport",
    "DirNode",
    "FSView",
    "FSViewConfig",
    "ListingContext",
    "Node",
    "Suspect",
    "Tombstone",
    "Tree",
    "ViewQuery",
    "wait_drained",
]
