"""fustor.core.errors: every error has its own stable code."""

from __future__ import annotations

import pytest

from fustor.core import errors

EXPECTED = {
    errors.FustorError: "error",
    errors.ValidationError: "invalid",
    errors.NotFoundError: "not_found",
    errors.AuditError: "audit_refused",
    errors.ConfigError: "config_invalid",
}


@pytest.mark.parametrize("cls,code", EXPECTED.items(), ids=lambda v: getattr(v, "__name__", v))
def test_codes(cls, code):
    assert cls.code == code
    err = cls("boom", path="/x")
    assert err.to_dict() == {"code": code, "message": "boom", "details": {"path": "/x"}}


# BUG in fustor/core/errors.py: a stray `code = "bad_path"` line after
# SchemaMismatchError's code overrides it. Delete that line, then this marker.
def test_schema_mismatch_code():
    assert errors.SchemaMismatchError.code == "schema_mismatch"


def test_codes_are_distinct():
    classes = [errors.FustorError, *errors.FustorError.__subclasses__()]
    codes = [c.code for c in classes]
    assert len(classes) >= 6
    assert len(set(codes)) == len(codes)


def test_no_details_key_when_empty():
    assert errors.NotFoundError("gone").to_dict() == {"code": "not_found", "message": "gone"}
