"""The plain-PyTorch example of docs/SPARSE.md runs as written and does what it says."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[2] / "docs" / "SPARSE.md"


def test_loop_example_runs():
    if not DOC.exists():
        pytest.fail("docs/SPARSE.md is missing")
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)
    assert blocks, "no python example in docs/SPARSE.md"
    ns: dict = {}
    exec(compile(blocks[0], str(DOC), "exec"), ns)
    sp = ns["sp"]
    assert sp.density() == pytest.approx(0.1, abs=1e-4)
    assert sp.t == ns["steps"]
