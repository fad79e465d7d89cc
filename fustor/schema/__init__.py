"""Layer 0: the FS event row, its schema name and version, and path keys."""

from .fs import (
    DIR,
    FILE,
    GROUP_ENTRY_FIELDS,
    KINDS,
    ROW_FIELDS,
    SCHEMA_NAME,
    SCHEMA_VERSION,
    SYMLINK,
    WIRE_INT,
    CheckedRows,
    RowError,
    WireGroup,
    WireRow,
    is_compatible,
    kind_of_mode,
    make_group,
    make_row,
    row_from_stat,
    rows_from_groups,
    rows_from_wire,
    rows_from_wire_groups,
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
    "DIR", "FILE", "GROUP_ENTRY_FIELDS", "KINDS", "ROOT", "ROW_FIELDS", "SCHEMA_NAME", "SCHEMA_VERSION", "SYMLINK", "WIRE_INT",
    "CheckedRows", "PathError", "RowError", "WireGroup", "WireRow", "check_key", "display_path", "escape_name", "is_compatible",
    "is_normalized", "is_within", "join", "kind_of_mode", "make_group", "make_row", "name_of",
    "normalize_path", "parent_of", "row_from_stat", "rows_from_groups", "rows_from_wire", "rows_from_wire_groups", "to_local", "unescape_name", "validate_row", "validate_rows",
]  # fmt: skip
