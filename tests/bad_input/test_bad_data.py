"""Bad input to ``prunekit data …`` and ``prunekit datasets …``: exit 2, one ``error:`` line naming the
problem, no traceback, nothing written, every input byte-identical (see ``_bad_input_harness``).

Classes (issue 11, item 9): 1 an output naming an input; 2 artefacts used with data they were not
made on; 3 format against extension; 6 messages that name the real problem; 7 what a hostile user
tries next. (4 and 5 are lake classes: test_bad_lake.py.)
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from _bad_input_harness import Case, hardlink, mkdir, params, run_case, symlink, write

OUT = "out.parquet"  # the default output name of a case, in the case's folder


# ----------------------------------------------------------------------------- setups










def rewrite_d(change: str):
    """Setup: rewrite the scored file ``d.parquet`` in place (the store is put back afterwards):
    ``values`` same ids and labels, other embeddings; ``order`` the same rows permuted; ``labels``
    same ids and embeddings, other labels."""
    def setup(c):
        p = c.data / "d.parquet"
        t = pq.read_table(p)
        if change == "values":
            emb = np.asarray(t.column("embedding").combine_chunks().flatten()).copy() + 1.0
            t = t.set_column(2, "embedding", pa.FixedSizeListArray.from_arrays(pa.array(emb), 8))
        elif change == "order":
            t = t.take(pa.array(np.random.default_rng(0).permutation(t.num_rows)))
        elif change == "labels":
            lab = (t.column("label").to_numpy() + 1) % 3
            t = t.set_column(1, "label", pa.array(lab))
        pq.write_table(t, p)
    return setup


def rewrite_npy(c):
    p = c.data / "emb.npy"
    X = np.load(p)
    np.save(p, X[::-1].copy())


def remove_d(c):
    (c.data / "d.parquet").unlink()




def zero_rows_parquet(c):
    pq.write_table(pq.read_table(c.data / "d.parquet").slice(0, 0), c.tmp / "none.parquet")


D = lambda name: (lambda c: c.data / name)  # noqa: E731  a store file
T = lambda name: (lambda c: c.tmp / name)   # noqa: E731  a case-folder file


def score(data, *extra, out=OUT, m=("random",)):
    """argv builder for ``data score``: ``data`` is a store file name or a builder."""
    def argv(c):
        src = data(c) if callable(data) else c.data / data
        o = out(c) if callable(out) else out
        rest = [e(c) if callable(e) else e for e in extra]
        return ["data", "score", src, *[x for mm in m for x in ("-m", mm)], *rest, "-o", o]
    return argv


def cmd(*parts):
    """argv builder: parts are literals or builders of the context."""
    return lambda c: [p(c) if callable(p) else p for p in parts]


REFUSE = "refusing to write"
DIFF = "made on different data"
TRUNCATED = ("truncated", "corrupt", "incomplete")  # a cut-off file: not "not a Parquet file"
DIRECTORY = ("directory", "folder")

# ----------------------------------------------------------------------------- class 1

CLASS1 = [
    Case(1, "score-out-is-its-data", score("d.parquet", out=D("d.parquet")), (REFUSE, D("d.parquet"))),
    Case(1, "score-out-symlink-to-data", score("d.parquet", out=T("link.parquet")),
         (REFUSE, T("link.parquet"), D("d.parquet")), setup=symlink("link.parquet", D("d.parquet"))),
    Case(1, "score-out-hardlink-to-data", score("d.parquet", out=T("hard.parquet")),
         (REFUSE, T("hard.parquet"), D("d.parquet")), setup=hardlink("hard.parquet", D("d.parquet"))),
    Case(1, "score-out-through-symlinked-folder", score("d.parquet", out=lambda c: c.tmp / "dl" / "d.parquet"),
         (REFUSE, lambda c: c.tmp / "dl" / "d.parquet", D("d.parquet")),
         setup=symlink("dl", lambda c: c.data, folder=True)),
    Case(1, "score-out-inside-parquet-folder-input",
         score("parts.parquet", out=D("parts.parquet/part-2.parquet")),
         (REFUSE, D("parts.parquet/part-2.parquet"), D("parts.parquet"))),
    Case(1, "score-npy-out-is-its-labels-via-symlink",
         score("emb.npy", "--labels", D("labels.npy"), out=T("lab.parquet")),
         (REFUSE, T("lab.parquet"), D("labels.npy")), setup=symlink("lab.parquet", D("labels.npy"))),
    Case(1, "select-out-is-its-scores",
         cmd("data", "select", D("s.parquet"), "-s", "random", "--keep", "0.5", "-o", D("s.parquet")),
         (REFUSE, D("s.parquet"))),
    Case(1, "select-out-hardlink-to-scores",
         cmd("data", "select", D("s.parquet"), "-s", "random", "--keep", "0.5", "-o", T("h.parquet")),
         (REFUSE, T("h.parquet"), D("s.parquet")), setup=hardlink("h.parquet", D("s.parquet"))),
    Case(1, "export-out-is-recorded-data",
         cmd("data", "export", D("sel.parquet"), "-o", D("d.parquet")), (REFUSE, D("d.parquet"))),
    Case(1, "export-out-is-given-data",
         cmd("data", "export", D("sel_flat.parquet"), "--data", D("flat.parquet"), "-o", D("flat.parquet")),
         (REFUSE, D("flat.parquet"))),
    Case(1, "export-out-is-the-selection",
         cmd("data", "export", D("sel.parquet"), "-o", D("sel.parquet")), (REFUSE, D("sel.parquet"))),
    Case(1, "export-index-out-is-the-selection",
         cmd("data", "export", D("sel.parquet"), "--format", "index", "-o", D("sel.parquet")),
         (REFUSE, D("sel.parquet"))),
    Case(1, "export-npy-out-is-recorded-data",
         cmd("data", "export", D("sel_npy.parquet"), "-o", D("emb.npy")), (REFUSE, D("emb.npy"))),
    Case(1, "export-out-symlink-to-recorded-data",
         cmd("data", "export", D("sel.parquet"), "-o", T("k.parquet")),
         (REFUSE, T("k.parquet"), D("d.parquet")), setup=symlink("k.parquet", D("d.parquet"))),
    Case(1, "inspect-png-is-the-selection",
         cmd("data", "inspect", D("sel.parquet"), "--png", D("sel.parquet")), (REFUSE, D("sel.parquet"))),
    Case(1, "train-out-is-the-selection",
         cmd("data", "train", D("d.parquet"), "--selection", D("sel.parquet"), "--epochs", "1", "-o", D("sel.parquet")),
         (REFUSE, D("sel.parquet"))),
    Case(1, "train-out-hardlink-to-data",
         cmd("data", "train", D("d.parquet"), "--epochs", "1", "-o", T("m.pt")),
         (REFUSE, T("m.pt"), D("d.parquet")), setup=hardlink("m.pt", D("d.parquet"))),
]

# ----------------------------------------------------------------------------- class 2

CLASS2 = [
    Case(2, "export-other-content", cmd("data", "export", D("sel.parquet"), "--data", D("other.parquet"), "-o", OUT),
         (DIFF, "content")),
    Case(2, "export-other-ids", cmd("data", "export", D("sel.parquet"), "--data", D("other_ids.parquet"), "-o", OUT),
         (DIFF, "ids")),
    Case(2, "export-fewer-rows", cmd("data", "export", D("sel.parquet"), "--data", D("short.parquet"), "-o", OUT),
         (DIFF, "rows")),
    Case(2, "train-other-content",
         cmd("data", "train", D("other.parquet"), "--selection", D("sel.parquet"), "--epochs", "1", "-o", "m.pt"),
         (DIFF, "content")),
    Case(2, "train-other-ids",
         cmd("data", "train", D("other_ids.parquet"), "--selection", D("sel.parquet"), "--epochs", "1", "-o", "m.pt"),
         (DIFF, "ids")),
    Case(2, "train-fewer-rows",
         cmd("data", "train", D("short.parquet"), "--selection", D("sel.parquet"), "--epochs", "1", "-o", "m.pt"),
         (DIFF, "rows")),
    Case(2, "export-recorded-data-rewritten", cmd("data", "export", D("sel.parquet"), "-o", OUT),
         (DIFF, "content"), setup=rewrite_d("values")),
    Case(2, "explain-recorded-data-rewritten", cmd("data", "explain", "3", D("sel.parquet")),
         (DIFF, "content"), setup=rewrite_d("values")),
    Case(2, "train-recorded-data-rewritten",
         cmd("data", "train", D("d.parquet"), "--selection", D("sel.parquet"), "--epochs", "1", "-o", "m.pt"),
         (DIFF, "content"), setup=rewrite_d("values")),
    Case(2, "export-recorded-labels-rewritten", cmd("data", "export", D("sel.parquet"), "-o", OUT),
         (DIFF, ("content", "label")), setup=rewrite_d("labels")),
    Case(2, "export-recorded-rows-reordered", cmd("data", "export", D("sel.parquet"), "-o", OUT),
         (DIFF, ("ids", "order")), setup=rewrite_d("order")),
    Case(2, "export-npy-rewritten", cmd("data", "export", D("sel_npy.parquet"), "-o", "k.npy"),
         (DIFF, "content"), setup=rewrite_npy),
]

# ----------------------------------------------------------------------------- class 3

CLASS3 = [
    Case(3, "export-csv-name-parquet-format",
         cmd("data", "export", D("sel_flat.parquet"), "--format", "parquet", "-o", "kept.csv"), ("extension",)),
    Case(3, "export-parquet-name-csv-format",
         cmd("data", "export", D("sel_flat.parquet"), "--format", "csv", "-o", "kept.parquet"), ("extension",)),
    Case(3, "export-npy-name-parquet-format",
         cmd("data", "export", D("sel_flat.parquet"), "--format", "parquet", "-o", "kept.npy"), ("extension",)),
    Case(3, "export-parquet-name-npy-format",
         cmd("data", "export", D("sel.parquet"), "--format", "npy", "-o", "kept.parquet"), ("extension",)),
    Case(3, "export-csv-name-index-format",
         cmd("data", "export", D("sel.parquet"), "--format", "index", "-o", "kept.csv"), ("extension",)),
    Case(3, "export-unknown-extension", cmd("data", "export", D("sel.parquet"), "-o", "kept.txt"), ("extension",)),
    Case(3, "score-out-csv-name", score("d.parquet", out="scores.csv"), ("extension",)),
    Case(3, "select-out-csv-name",
         cmd("data", "select", D("s.parquet"), "-s", "random", "--keep", "0.5", "-o", "sel.csv"), ("extension",)),
    Case(3, "datasets-export-unknown-extension", cmd("datasets", "export", "digits", "-o", "x.txt"),
         (("extension", "format"), ".txt")),
]

# ----------------------------------------------------------------------------- class 6

CLASS6 = [
    Case(6, "score-empty-parquet", score(T("z.parquet")), ("empty", T("z.parquet")), setup=write("z.parquet")),
    Case(6, "score-empty-npy", score(T("z.npy")), ("empty", T("z.npy")), setup=write("z.npy")),
    Case(6, "score-empty-csv", score(T("z.csv")), ("empty", T("z.csv")), setup=write("z.csv")),
    Case(6, "score-empty-arrow", score(T("z.arrow")), ("empty", T("z.arrow")), setup=write("z.arrow")),
    Case(6, "score-header-only-csv", score(T("h.csv")), ("no rows",), setup=write("h.csv", "id,label,f0,f1\n")),
    Case(6, "score-zero-row-parquet", score(T("none.parquet")), ("no rows",), setup=zero_rows_parquet),
    Case(6, "score-empty-labels-npy", score("emb.npy", "--labels", T("z.npy")), ("empty", T("z.npy")),
         setup=write("z.npy")),
    Case(6, "select-empty-scores", cmd("data", "select", T("z.parquet"), "-s", "random", "--keep", "0.5", "-o", OUT),
         ("empty", T("z.parquet")), setup=write("z.parquet")),
    Case(6, "export-empty-selection", cmd("data", "export", T("z.parquet"), "-o", "k.parquet"),
         ("empty", T("z.parquet")), setup=write("z.parquet")),
    Case(6, "inspect-empty-selection", cmd("data", "inspect", T("z.parquet")), ("empty", T("z.parquet")),
         setup=write("z.parquet")),
    Case(6, "explain-empty-selection", cmd("data", "explain", "3", T("z.parquet")), ("empty", T("z.parquet")),
         setup=write("z.parquet")),
    Case(6, "train-empty-selection",
         cmd("data", "train", D("d.parquet"), "--selection", T("z.parquet"), "--epochs", "1", "-o", "m.pt"),
         ("empty", T("z.parquet")), setup=write("z.parquet")),
    Case(6, "score-parquet-bytes-in-csv", score(T("p.csv")), (T("p.csv"), ("parquet", "binary")),
         setup=write("p.csv", copy_of=D("d.parquet"))),
    Case(6, "score-csv-text-in-parquet", score(T("c.parquet")), (T("c.parquet"), ("not a parquet", "magic")),
         setup=write("c.parquet", copy_of=D("d.csv"))),
    Case(6, "score-npy-bytes-in-parquet", score(T("n.parquet")), (T("n.parquet"), ("not a parquet", "magic", "extension says parquet")),
         setup=write("n.parquet", copy_of=D("emb.npy"))),
    Case(6, "score-truncated-parquet", score(T("t.parquet")),
         (T("t.parquet"), TRUNCATED), setup=write("t.parquet", copy_of=D("d.parquet"), head=0.5)),
    Case(6, "score-truncated-npy", score(T("t.npy")), (T("t.npy"), TRUNCATED),
         setup=write("t.npy", copy_of=D("emb.npy"), head=0.5)),
    Case(6, "select-truncated-scores",
         cmd("data", "select", T("t.parquet"), "-s", "random", "--keep", "0.5", "-o", OUT),
         (T("t.parquet"), TRUNCATED), setup=write("t.parquet", copy_of=D("s.parquet"), head=0.6)),
    Case(6, "select-data-file-as-scores",
         cmd("data", "select", D("d.parquet"), "-s", "random", "--keep", "0.5", "-o", OUT),
         (D("d.parquet"), "score")),
    Case(6, "train-scores-without-selection",
         cmd("data", "train", D("d.parquet"), "--selection", D("s.parquet"), "--epochs", "1", "-o", "m.pt"),
         ("selection",)),
]

# ----------------------------------------------------------------------------- class 7


def select_opt(*opts, s="random"):
    return cmd("data", "select", D("s.parquet"), "-s", s, *opts, "-o", OUT)


def train_opt(*opts):
    return cmd("data", "train", D("d.parquet"), *opts, "-o", "m.pt")


NUMERIC = [
    # (name, argv, words)
    ("keep-0", select_opt("--keep", "0"), ("keep", "0")),
    ("keep-1.5", select_opt("--keep", "1.5"), ("keep", "1.5")),
    ("keep-negative", select_opt("--keep", "-0.1"), ("keep", "-0.1")),
    ("keep-nan", select_opt("--keep", "nan"), ("keep", "nan")),
    ("keep-inf", select_opt("--keep", "inf"), ("keep", "inf")),
    ("count-0", select_opt("--count", "0"), ("count", "0")),
    ("count-negative", select_opt("--count", "-1"), ("count", "-1")),
    ("count-huge", select_opt("--count", str(10**12)), ("count", str(10**12))),
    ("beta-1.5", select_opt("--keep", "0.5", "--beta", "1.5", s="offset"), ("beta", "1.5")),
    ("bins-0", select_opt("--keep", "0.5", "--bins", "0", s="ccs"), ("bins", "0")),
    ("tau-0", select_opt("--keep", "0.5", "--tau", "0", s="dbp"), ("tau", "0")),
    ("tau-nan", select_opt("--keep", "0.5", "--tau", "nan", s="dbp"), ("tau", "nan")),
    ("k-0", score("d.parquet", "--k", "0", m=("prototypicality",)), ("k", "0")),
    ("k-huge", score("d.parquet", "--k", str(10**12), m=("prototypicality",)), ("k", str(10**12))),
    ("sample-0", score("d.parquet", "--sample", "0", m=("prototypicality",)), ("sample", "0")),
    ("niter-0", score("d.parquet", "--niter", "0", m=("prototypicality",)), ("niter", "0")),
    ("eps-negative", score("d.parquet", "--eps", "-1", m=("semdedup",)), ("eps", "-1")),
    ("eps-nan", score("d.parquet", "--eps", "nan", m=("semdedup",)), ("eps", "nan")),
    ("n-neighbors-0", score("d.parquet", "--n-neighbors", "0", m=("density",)), ("n_neighbors", "0")),
    ("runs-0", score("d.parquet", "--runs", "0", m=("el2n",)), ("runs", "0")),
    ("score-epochs-0", score("d.parquet", "--epochs", "0", m=("el2n",)), ("epochs", "0")),
    ("train-epochs-0", train_opt("--epochs", "0"), ("epochs", "0")),
    ("train-lr-nan", train_opt("--lr", "nan"), ("lr", "nan")),
    ("train-lr-negative", train_opt("--lr", "-1"), ("lr", "-1")),
    ("train-batch-size-0", train_opt("--batch-size", "0"), ("batch_size", "0")),
    ("train-kd-alpha-1.5", train_opt("--kd-alpha", "1.5"), ("kd_alpha", "1.5")),
    ("train-kd-tau-0", train_opt("--kd-alpha", "0.5", "--kd-tau", "0"), ("kd_tau", "0")),
    ("train-rs2-0", train_opt("--rs2", "0"), ("rs2", "0")),
    ("train-rs2-1.5", train_opt("--rs2", "1.5"), ("rs2", "1.5")),
    ("train-rs2-nan", train_opt("--rs2", "nan"), ("rs2", "nan")),
    ("train-teacher-width-0", train_opt("--kd-alpha", "0.5", "--teacher-width", "0"), ("width", "0")),
    ("plan-tolerance-negative", cmd("data", "plan", "digits", "--tolerance", "-1", "-o", "plan"), ("tolerance", "-1")),
    ("plan-keep-1.5", cmd("data", "plan", "digits", "--keep", "0.3,1.5", "-o", "plan"), ("keep", "1.5")),
    ("plan-pilots-0", cmd("data", "plan", "digits", "--pilots", "0,0.5", "-o", "plan"), ("pilot", "0")),
]

NAMES = [
    ("unknown-scorer", score("d.parquet", m=("nope",)), ("nope",)),
    ("unknown-metric", score("d.parquet", "--metric", "manhattan", m=("prototypicality",)), ("manhattan",)),
    ("unknown-selector", select_opt("--keep", "0.5", s="magic"), ("magic",)),
    ("unknown-balance", select_opt("--keep", "0.5", "--balance", "lopsided", s="hardest"), ("lopsided",)),
    ("unknown-score-column", select_opt("--keep", "0.5", "--score", "nope_col", s="hardest"), ("nope_col",)),
    ("unknown-model", train_opt("--model", "transformer9"), ("transformer9",)),
    ("unknown-optimizer", train_opt("--optimizer", "lbfgs"), ("lbfgs",)),
    ("unknown-schedule", train_opt("--schedule", "sawtooth"), ("sawtooth",)),
    ("unknown-device", train_opt("--device", "tpu9"), ("tpu9",)),
    ("train-neither-file-nor-dataset", cmd("data", "train", "nodata.parquet", "-o", "m.pt"), ("nodata.parquet",)),
    ("selection-and-rs2", train_opt("--selection", D("sel.parquet"), "--rs2", "0.5"), ("rs2", "selection")),
    ("unknown-export-format", cmd("data", "export", D("sel.parquet"), "--format", "xlsx", "-o", OUT), ("xlsx",)),
    ("unknown-dataset", cmd("datasets", "export", "mnist9000", "-o", "x.npy"), ("mnist9000",)),
    ("unknown-split", cmd("datasets", "export", "digits", "--split", "validation", "-o", "x.npy"), ("validation",)),
    ("inspect-unknown-score", cmd("data", "inspect", D("sel.parquet"), "--score", "nope_col"), ("nope_col",)),
    ("explain-unknown-id", cmd("data", "explain", "99999", D("sel.parquet")), ("99999",)),
    ("sweep-config-keep-1.5", cmd("data", "sweep", D("sweep_bad_keep.toml"), "-o", "sweep"), ("keep", "1.5")),
    ("sweep-config-unknown-method", cmd("data", "sweep", D("sweep_bad_method.toml"), "-o", "sweep"), ("nope",)),
]

MISSING = [
    ("score-missing-data", score(T("missing.parquet")), (T("missing.parquet"), "does not exist")),
    ("score-missing-labels", score("emb.npy", "--labels", T("missing.npy")), (T("missing.npy"), "does not exist")),
    ("select-missing-scores", cmd("data", "select", T("missing.parquet"), "-s", "random", "--keep", "0.5", "-o", OUT),
     (T("missing.parquet"), "does not exist")),
    ("export-missing-selection", cmd("data", "export", T("missing.parquet"), "-o", OUT),
     (T("missing.parquet"), "does not exist")),
    ("inspect-missing", cmd("data", "inspect", T("missing.parquet")), (T("missing.parquet"), "does not exist")),
    ("explain-missing", cmd("data", "explain", "3", T("missing.parquet")), (T("missing.parquet"), "does not exist")),
    ("train-missing-selection", train_opt("--selection", T("missing.parquet")),
     (T("missing.parquet"), "does not exist")),
    ("train-missing-teacher", train_opt("--kd-alpha", "0.5", "--teacher", T("missing.pt")),
     (T("missing.pt"), "does not exist")),
    ("sweep-missing-config", cmd("data", "sweep", T("missing.toml"), "-o", "sweep"), (T("missing.toml"),)),
    ("report-missing-sweep", cmd("data", "report", T("missing_sweep")), (T("missing_sweep"), "does not exist")),
]

DIRS = [
    ("select-dir-as-scores", cmd("data", "select", D("a dir"), "-s", "random", "--keep", "0.5", "-o", OUT),
     (D("a dir"), DIRECTORY)),
    ("export-dir-as-selection", cmd("data", "export", D("a dir"), "-o", OUT), (D("a dir"), DIRECTORY)),
    ("inspect-dir", cmd("data", "inspect", D("a dir")), (D("a dir"), DIRECTORY)),
    ("explain-dir", cmd("data", "explain", "3", D("a dir")), (D("a dir"), DIRECTORY)),
    ("score-labels-dir", score("emb.npy", "--labels", D("a dir")), (D("a dir"), DIRECTORY)),
    ("train-selection-dir", train_opt("--selection", D("a dir")), (D("a dir"), DIRECTORY)),
    ("score-out-dir", score("d.parquet", out=D("a dir")), (D("a dir"), "directory")),
    ("select-out-dir", cmd("data", "select", D("s.parquet"), "-s", "random", "--keep", "0.5", "-o", D("a dir")),
     (D("a dir"), "directory")),
    ("export-out-dir", cmd("data", "export", D("sel.parquet"), "-o", D("a dir")), (D("a dir"), "directory")),
    ("train-out-dir", cmd("data", "train", D("d.parquet"), "--epochs", "1", "-o", D("a dir")),
     (D("a dir"), "directory")),
]

NO_PARENT = [
    ("score-out-parent-missing", score("d.parquet", out="nodir/x.parquet"), ("nodir", "does not exist")),
    ("select-out-parent-missing",
     cmd("data", "select", D("s.parquet"), "-s", "random", "--keep", "0.5", "-o", "nodir/x.parquet"),
     ("nodir", "does not exist")),
    ("export-out-parent-missing", cmd("data", "export", D("sel.parquet"), "-o", "nodir/k.parquet"),
     ("nodir", "does not exist")),
    ("train-out-parent-missing", cmd("data", "train", D("d.parquet"), "--epochs", "1", "-o", "nodir/m.pt"),
     ("nodir", "does not exist")),
    ("inspect-png-parent-missing", cmd("data", "inspect", D("sel.parquet"), "--png", "nodir/h.png"),
     ("nodir", "does not exist")),
    ("datasets-export-parent-missing", cmd("datasets", "export", "digits", "-o", "nodir/x.npy"),
     ("nodir", "does not exist")),
]

UNICODE_DIR = "dätä ünï cødé"
OTHERS = [
    Case(7, "export-recorded-data-gone", cmd("data", "export", D("sel.parquet"), "-o", OUT),
         (D("d.parquet"), "does not exist"), setup=remove_d),
    Case(7, "score-out-read-only-folder", score("d.parquet", out="ro/x.parquet"), ("ro", "not writable"),
         setup=mkdir("ro", 0o555), root_only_skip=True),
    Case(7, "export-out-read-only-folder", cmd("data", "export", D("sel.parquet"), "-o", "ro/k.parquet"),
         ("ro", "not writable"), setup=mkdir("ro", 0o555), root_only_skip=True),
    Case(7, "unicode-missing-data-path-intact", score(lambda c: c.tmp / UNICODE_DIR / "mïssing fïle.parquet"),
         (lambda c: c.tmp / UNICODE_DIR / "mïssing fïle.parquet",), setup=mkdir(UNICODE_DIR)),
    Case(7, "unicode-empty-data-path-intact", score(lambda c: c.tmp / UNICODE_DIR / "lëer file.parquet"),
         ("empty", lambda c: c.tmp / UNICODE_DIR / "lëer file.parquet"),
         setup=write(f"{UNICODE_DIR}/lëer file.parquet")),
    Case(7, "unicode-out-parent-missing-path-intact",
         score("d.parquet", out=lambda c: c.tmp / "nö such dïr" / "s c.parquet"), ("nö such dïr",)),
]

CLASS7 = ([Case(7, n, a, w) for n, a, w in NUMERIC + NAMES + MISSING + DIRS + NO_PARENT]) + OTHERS

CASES = CLASS1 + CLASS2 + CLASS3 + CLASS6 + CLASS7


@pytest.mark.parametrize("case", params(CASES))
def test_bad_data_input(case, ctx, data_store, capsys):
    ctx.stores["data"] = data_store.root
    run_case(case, ctx, capsys, [data_store])
