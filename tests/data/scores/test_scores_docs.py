"""The registry tables in the package docstrings of ``prunekit.data.scores`` and
``prunekit.data.select`` name exactly the registered scorers and selectors (so they cannot drift)."""

from __future__ import annotations

import importlib
import re

import pytest

# importlib: the attribute prunekit.data.select is the pipeline function of that name
scores = importlib.import_module("prunekit.data.scores")
select = importlib.import_module("prunekit.data.select")


def table_names(doc: str) -> list[str]:
    """First-column entries of the reStructuredText simple tables in ``doc`` (continuation lines,
    whose first column is blank, are skipped)."""
    lines = doc.splitlines()
    border = re.compile(r"^=+( +=+)+ *$")
    names: list[str] = []
    i = 0
    while i < len(lines):
        if border.match(lines[i]):
            width = len(lines[i].split(" ")[0])
            # top border, header, border, rows, bottom border
            j = i + 3
            while j < len(lines) and not border.match(lines[j]):
                cell = lines[j][:width].strip()
                if cell:
                    names.append(cell.strip("`"))
                j += 1
            i = j + 1
        else:
            i += 1
    return names


@pytest.mark.parametrize("package,registry", [(scores, scores.SCORERS), (select, select.SELECTORS)],
                         ids=["scores", "select"])
def test_docstring_table_lists_the_registry(package, registry):
    names = table_names(package.__doc__)
    assert len(names) == len(set(names)), f"a name is listed twice: {names}"
    assert set(names) == set(registry)


def test_table_parser():
    doc = "\n".join(["x", "", "====  =====", "name  what", "====  =====", "a     one", "      more",
                     "b_c   two", "====  =====", "", "``c``  y", ""])
    assert table_names(doc) == ["a", "b_c"]
