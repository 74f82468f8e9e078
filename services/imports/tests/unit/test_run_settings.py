"""The import runner's settings from the environment: a batch size no batch request may
carry is refused when the service starts."""

from __future__ import annotations

import pytest

from crm_contracts.import_batches import MAX_BATCH_ROWS
from crm_imports.config import RunSettings


def test_the_batch_size_defaults_and_may_be_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("IMPORT_BATCH_ROWS", raising=False)
    unset = RunSettings.from_env()
    # Companies and deals (small rows) go a thousand a batch, the other record types 500.
    assert unset.rows_for("companies") == unset.rows_for("deals") == MAX_BATCH_ROWS
    assert [unset.rows_for(kind) for kind in ("contacts", "interactions", "tasks")] == [500] * 3
    monkeypatch.setenv("IMPORT_BATCH_ROWS", "200")
    assert RunSettings.from_env().rows_for("companies") == 200
    assert RunSettings.from_env().rows_for("deals") == 200


@pytest.mark.parametrize("rows", ["0", "-5", str(MAX_BATCH_ROWS + 1)])
def test_a_batch_size_no_request_may_carry_is_refused(
    monkeypatch: pytest.MonkeyPatch, rows: str
) -> None:
    monkeypatch.setenv("IMPORT_BATCH_ROWS", rows)
    with pytest.raises(ValueError, match="IMPORT_BATCH_ROWS must be between 1 and"):
        RunSettings.from_env()
