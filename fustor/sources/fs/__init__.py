"""source-fs: what an agent observes of a shared file tree."""

from .audit import AuditWalker
from .drift import CorrectedClock
from .filters import PathFilter
from .scanner import ScanErrors, Throttle, list_directory, list_group, start_row, stat_paths, walk_groups, walk_rows

__all__ = ["AuditWalker", "CorrectedClock", "PathFilter", "ScanErrors", "Throttle", "list_directory",
           "list_group", "start_row", "stat_paths", "walk_groups", "walk_rows"]
