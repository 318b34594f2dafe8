"""The catalog questions a sync asks survive a rebuild in the middle: the question is
asked again on the rebuilt catalog's connection, never on the closed one."""

from __future__ import annotations

import sqlite3

import pytest

from clinvk.catalog import Catalog, catalog_path
from clinvk.store import SessionStore
from tests.conftest import add_session


def break_under(catalog: Catalog) -> None:
    """Another process damages the catalog while it is open: its next query fails."""
    other = sqlite3.connect(catalog_path(catalog.files.root))
    other.execute("DROP TABLE sessions")
    other.commit()
    other.close()


def test_owner_is_asked_again_on_the_rebuilt_catalog(
        store: SessionStore, capsys: pytest.CaptureFixture[str]) -> None:
    made = add_session(store, backend_session_id="vendor-7")
    Catalog.open(store).close()  # built on disk
    catalog = Catalog.open(store)
    break_under(catalog)
    assert catalog.owner("claude", "vendor-7") == made.id
    assert "closed database" not in capsys.readouterr().err
    assert not catalog.in_memory
    catalog.close()


def test_check_is_asked_again_on_the_rebuilt_catalog(
        store: SessionStore, capsys: pytest.CaptureFixture[str]) -> None:
    made = add_session(store)
    Catalog.open(store).close()
    catalog = Catalog.open(store)
    break_under(catalog)
    mismatch = catalog.check({}, set())
    # Every row is the rebuilt catalog's, and no file was said to be readable.
    assert mismatch.gone == [made.id] and mismatch.missing == []
    assert "closed database" not in capsys.readouterr().err
    assert not catalog.in_memory
    catalog.close()
