"""Errors shared by every layer.

Each error carries a stable ``code`` so that the wire can report it and a
client can branch on it without parsing messages.
"""

from __future__ import annotations


class FustorError(Exception):
    """Base of every error Fustor raises on purpose."""

    code = "error"

    def __init__(self, message: str, **details: object) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {"code": self.code, "message": self.message}
        if self.details:
            out["details"] = self.details
        return out


class ValidationError(FustorError):
    """Input that does not have the expected shape (a row, a message, a config)."""

    code = "invalid"


class SchemaMismatchError(FustorError):
    """An event of another schema or an incompatible schema version (C15)."""

    code = "schema_mismatch"


class NotFoundError(FustorError):
    """A queried path, view or object that does not exist."""

    code = "not_found"


class AuditError(FustorError):
    """An audit signal that does not belong to the running audit (C5, C7)."""

    code = "audit_refused"


class ConfigError(FustorError):
    """A configuration file that cannot be loaded: names the file and the key."""

    code = "config_invalid"
