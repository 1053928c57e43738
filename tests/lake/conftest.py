"""Fixtures of the lake tests; the planted lakes and the brute-force reference live in
``_planted_lake.py`` (a uniquely named module: ``from conftest import`` would pick whichever
conftest.py pytest imported last)."""

from __future__ import annotations

from pathlib import Path

import pytest

from _planted_lake import write_planted_lake


@pytest.fixture(scope="session")
def planted_lake(tmp_path_factory) -> Path:
    """A planted lake (with bad files) written once per session. Do not modify it: copy it."""
    root = tmp_path_factory.mktemp("planted") / "lake"
    write_planted_lake(root, bad_files=True)
    return root
