"""Layer 0: the FS event row, its schema name and version, and path keys."""

from .fs import (
    DIR,
    FILE,
    KINDS,
    ROW_FIELDS,
    SCHEMA_NAME,
    SCHEMA_VERSION,
    SYMLINK,
    CheckedRows,
    RowError,
    WireRow,
    is_compatible,
    kind_of_mode,
    make_row,
    row_from_stat,
    rows_from_wire,
    validate_row,
    validate_rows,
)
from .paths import (
    ROOT,
    PathError,
    check_key,
    display_path,
    escape_name,
    is_normalized,
    is_within,
    join,
    name_of,
    normalize_path,
    parent_of,
    to_local,
    unescape_name,
)

__all__ = [
    "DIR", "FILE", "KINDS", "ROOT", "ROW_FIELDS", "SCHEMA_NAME", "SCHEMA_VERSION", "SYMLINK",
    "CheckedRows", "PathError", "RowError", "WireRow", "check_key", "display_path", "escape_name", "is_compatible",
    "is_normalized", "is_within", "join", "kind_of_mode", "make_row", "name_of",
    "normalize_path", "parent_of", "row_from_stat", "rows_from_wire", "to_local", "unescape_name", "validate_row", "validate_rows",
]  # fmt: skip
