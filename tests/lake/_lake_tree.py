"""A lake's exact state, to prove a refused command changed nothing."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path


def tree(root: Path) -> dict[str, str]:
    """Every entry under ``root`` (links not followed): sha256 of files, link targets, folders."""
    out = {}
    for d, dirs, files in os.walk(root):
        for n in dirs + files:
            p = Path(d, n)
            rel = p.relative_to(root).as_posix()
            if p.is_symlink():
                out[rel] = "link -> " + os.readlink(p)
            elif p.is_dir():
                out[rel] = "dir"
            else:
                out[rel] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def forced_plan(scan, pairs: list[tuple[str, str]]) -> dict:
    """A valid plan of ``scan`` that deletes exactly ``pairs`` ((child, parent), each a true edge),
    whatever the planner would choose: these tests are about apply/restore/purge, not the costs."""
    from prunekit.lake import deletion_plan as lp

    plan = lp.make_plan(scan, measure=False)
    plan["tables"] = {n: {"path": p.path, "format": p.format, "rows": p.rows, "size_bytes": p.size_bytes,
                          "checksum": p.checksum, "fingerprint": p.fingerprint,
                          "action": "delete" if n in dict(pairs) else "keep"}
                      for n, p in scan.profiles.items()}
    plan["deletions"] = [{"table": c, "parent": par, "semantics": scan.semantics,
                          "size_bytes": scan.profiles[c].size_bytes} for c, par in pairs]
    return lp.validate_plan(plan)
