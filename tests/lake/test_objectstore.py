"""A lake on an object store (``s3://bucket/prefix``), against a local moto S3 server: scanned and
planned like the same lake on a local disk (same tables, profiles, checksums, edges); applied,
restored (byte-identical) and purged with the trash in the bucket and the journal in a local state
folder; killed mid-apply and recovered; an unreachable endpoint is one line and changes nothing."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest

moto_server = pytest.importorskip("moto.server")
boto3 = pytest.importorskip("boto3")

from moto_s3 import moto_s3  # noqa: E402
from prunekit.cli import main  # noqa: E402
from prunekit.lake import objectstore  # noqa: E402
from prunekit.lake.catalog import scan_catalog  # noqa: E402
from prunekit.lake.apply import apply_plan  # noqa: E402
from prunekit.lake.deletion_plan import plan_to_file  # noqa: E402
from prunekit.lake.exact import table_difference  # noqa: E402
from prunekit.lake.purge import purge  # noqa: E402
from prunekit.lake.restore import restore_tables  # noqa: E402
from prunekit.lake.tableio import read_table  # noqa: E402
from prunekit.lake.trash import trash_entries  # noqa: E402
from prunekit.lake.scan import scan, scan_to_folder  # noqa: E402


@pytest.fixture(scope="module")
def s3_env(tmp_path_factory):
    """A moto S3 server on a free port for this module, the AWS environment pointing at it."""
    objectstore._filesystem.cache_clear()
    try:
        # journals and locks of s3 lakes
        with moto_s3(PRUNEKIT_LAKE_STATE=str(tmp_path_factory.mktemp("state"))) as env:
            yield env
    finally:
        objectstore._filesystem.cache_clear()


def _write_lake(fs: pafs.FileSystem, base: str) -> None:
    """The same lake on any file system: a Parquet parent, a CSV and a parts-folder child, a
    Hive-partitioned copy of the parent."""
    if isinstance(fs, pafs.LocalFileSystem):   # an object store has no folders to make
        for d in ("parts", "hive/region=eu", "hive/region=us"):
            fs.create_dir(f"{base}/{d}", recursive=True)
    rng = np.random.default_rng(0)
    n = 3000
    parent = pa.table({"id": np.arange(n), "amount": rng.normal(size=n).round(3),
                       "region": rng.choice(["eu", "us"], n)})
    pq.write_table(parent, f"{base}/all.parquet", filesystem=fs)
    pos = parent.filter(pc.greater(parent["amount"], 0))
    with fs.open_output_stream(f"{base}/pos.csv") as f:
        pacsv.write_csv(pos, f)
    neg = parent.filter(pc.less(parent["amount"], -1)).select(["id", "region"])
    for i, piece in enumerate((neg.slice(0, 100), neg.slice(100))):
        pq.write_table(piece, f"{base}/parts/part-{i}.parquet", filesystem=fs)
    for r in ("eu", "us"):
        pq.write_table(parent.filter(pc.equal(parent["region"], r)).drop_columns(["region"]),
                       f"{base}/hive/region={r}/part-0.parquet", filesystem=fs)


@pytest.fixture(scope="module")
def s3_lake(s3_env, tmp_path_factory):
    """``s3://lake-bucket/lake`` and the same lake on the local disk."""
    boto3.client("s3").create_bucket(Bucket="lake-bucket")
    s3, _ = pafs.FileSystem.from_uri("s3://lake-bucket")
    _write_lake(s3, "lake-bucket/lake")
    local = tmp_path_factory.mktemp("local") / "lake"
    _write_lake(pafs.LocalFileSystem(), str(local))
    return "s3://lake-bucket/lake", local


def test_scan_finds_what_the_local_copy_holds(s3_lake, tmp_path):
    uri, local = s3_lake
    remote = scan(uri)
    here = scan(local, cache=False)
    assert remote.root == uri and set(remote.profiles) == {"all", "pos", "parts", "hive"} == set(here.profiles)
    for name, p in remote.profiles.items():
        q = here.profiles[name]
        assert p.path == f"{uri}/{Path(q.path).relative_to(local).as_posix()}"
        assert (p.format, p.rows, p.fingerprint, p.checksum, p.size_bytes, p.columns) == \
            (q.format, q.rows, q.fingerprint, q.checksum, q.size_bytes, q.columns), name
    assert {(e.parent, e.child) for e in remote.edges} == {(e.parent, e.child) for e in here.edges}
    assert ("all", "pos") in {(e.parent, e.child) for e in remote.edges}
    assert remote.profiles["hive"].format == "hive"


def test_scan_writes_nothing_but_its_outputs(s3_lake, tmp_path, monkeypatch):
    uri, _ = s3_lake
    monkeypatch.chdir(tmp_path)
    assert main(["lake", "scan", uri, "-o", "out", "-q", "--no-graph"]) == 0
    assert sorted(os.listdir(tmp_path)) == ["out"]
    s3, _ = pafs.FileSystem.from_uri(uri)
    listed = [i.path for i in s3.get_file_info(pafs.FileSelector("lake-bucket", recursive=True))]
    assert not [p for p in listed if "/." in p]          # no .prunekit cache, no trash on the store
    # a local --cache file works, and the second scan reads no table
    cache = tmp_path / "profiles.json"
    assert len(scan_catalog(uri, cache=cache).profiled) == 4
    assert scan_catalog(uri, cache=cache).profiled == []


def _objects(prefix: str, bucket: str = "lake-bucket") -> dict[str, bytes]:
    """Every object under ``bucket/prefix`` (trash and all) → its bytes."""
    s3, _ = pafs.FileSystem.from_uri(f"s3://{bucket}")
    out = {}
    for i in s3.get_file_info(pafs.FileSelector(f"{bucket}/{prefix}", recursive=True, allow_not_found=True)):
        if i.type == pafs.FileType.File:
            with s3.open_input_stream(i.path) as f:
                out[i.path] = f.read()
    return out


def _fresh_lake(name: str, tmp_path) -> tuple[str, dict]:
    """A lake of its own under ``s3://lake-bucket/<name>``, scanned and planned."""
    s3, _ = pafs.FileSystem.from_uri("s3://lake-bucket")
    _write_lake(s3, f"lake-bucket/{name}")
    uri = f"s3://lake-bucket/{name}"
    scan_to_folder(uri, tmp_path / "scan", graph=False)
    plan = plan_to_file(tmp_path / "scan", tmp_path / "plan.json", default_accesses=0)
    return uri, plan


def _visible(objs: dict[str, bytes]) -> dict[str, bytes]:
    return {k: v for k, v in objs.items() if "/.prunekit-trash/" not in k}


def test_apply_restore_purge_round_trip_on_s3(s3_lake, tmp_path, capsys):
    """plan → apply (trash in the bucket, journal local) → restore: byte-identical; purge keeps the
    recipe; a restore from it gives the same content; the local state folder holds the journal."""
    uri, plan = _fresh_lake("round", tmp_path)
    deleted = sorted(d["table"] for d in plan["deletions"])
    assert deleted and plan["scan"]["root"] == uri
    before = _objects("round")
    assert main(["lake", "apply", str(tmp_path / "plan.json")]) == 0          # dry run: nothing moves
    assert _objects("round") == before
    assert main(["lake", "apply", str(tmp_path / "plan.json"), "--execute", "-q"]) == 0
    after = _objects("round")
    for name in deleted:
        rel = plan["tables"][name]["path"][len(uri) + 1:]
        assert not any(k == f"lake-bucket/round/{rel}" or k.startswith(f"lake-bucket/round/{rel}/") for k in after)
        assert f"lake-bucket/round/.prunekit-trash/{name}/recipe.json" in after
    assert sum(len(v) for k, v in _visible(after).items()) < sum(len(v) for v in before.values())
    state = objectstore.state_root(uri) / ".prunekit-trash" / "journal.jsonl"
    assert state.exists() and str(state).startswith(os.environ["PRUNEKIT_LAKE_STATE"])
    assert [r["table"] for r in trash_entries(uri)] == deleted
    capsys.readouterr()
    assert main(["lake", "restore", *deleted, "--lake", uri]) == 0
    assert "byte-identical" in capsys.readouterr().out
    assert _objects("round") == before                                        # the trash entries gone too

    # purge: the trash copies go, the recipes stay; a restore rebuilds them from their parents
    apply_plan(tmp_path / "plan.json", execute=True)
    rows = purge(uri, execute=True)
    assert {r["table"] for r in rows if r["outcome"] == "purged"} == set(deleted)
    assert not any("/data/" in k for k in _objects("round/.prunekit-trash"))
    assert [r["mode"] for r in restore_tables(uri, deleted)] == ["rebuild"] * len(deleted)
    now = _visible(_objects("round"))
    assert set(now) == set(before)
    for name in deleted:
        path = plan["tables"][name]["path"]
        assert table_difference(read_table(path, plan["tables"][name]["format"]),
                                read_table(path.replace(uri, str(s3_lake[1])), plan["tables"][name]["format"])) is None


def test_unreachable_store_is_one_line_and_changes_nothing(s3_lake, tmp_path, capsys, monkeypatch):
    uri, plan = _fresh_lake("far", tmp_path)
    before = _objects("far")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    objectstore._filesystem.cache_clear()
    try:
        # (each command waits for pyarrow's S3 retries, a few seconds: two commands are enough)
        for argv in (["apply", str(tmp_path / "plan.json"), "--execute"], ["restore", "all", "--lake", uri]):
            capsys.readouterr()
            assert main(["lake", *argv]) == 2, argv
            err = capsys.readouterr().err.strip().splitlines()
            assert len(err) == 1 and err[0].startswith("error: s3://lake-bucket/far"), (argv, err)
    finally:
        monkeypatch.undo()
        objectstore._filesystem.cache_clear()
    assert _objects("far") == before
    assert not (objectstore.state_root(uri) / ".prunekit-trash" / "journal.jsonl").exists()


@pytest.mark.parametrize("point", ["copied", "moved-unjournaled"])
def test_killed_apply_on_s3_recovers(s3_lake, tmp_path, point):
    """SIGKILL mid-apply (every copy made and verified, no original deleted; the originals deleted but
    not journaled): the next command puts every table back or keeps it
    deleted, and restoring gives the lake back byte for byte."""
    import signal
    import subprocess
    import sys

    name = f"kill-{point}"
    uri, plan = _fresh_lake(name, tmp_path)
    before = _objects(name)
    run = "import sys; from prunekit.cli import main; sys.exit(main(sys.argv[1:]))"
    env = dict(os.environ, PRUNEKIT_PROGRESS="0", PRUNEKIT_LAKE_CRASH_AT=point)
    proc = subprocess.run([sys.executable, "-c", run, "lake", "apply", str(tmp_path / "plan.json"), "--execute"],
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    if point == "copied":   # a scan recovers first too, and sees the lake as it was
        result = scan(uri, cache=False)
        assert _objects(name) == before and result.edges
        assert not any(".prunekit" in p.path for p in result.profiles.values())
    in_trash = [r["table"] for r in trash_entries(uri)]                     # recovers first
    assert in_trash == []                                                    # the first table was rolled back
    assert _objects(name) == before
    assert apply_plan(tmp_path / "plan.json", execute=True).deleted


def test_missing_root_and_unsupported_tables(s3_env, tmp_path, capsys):
    boto3.client("s3").create_bucket(Bucket="other-bucket")
    s3, _ = pafs.FileSystem.from_uri("s3://other-bucket")
    pq.write_table(pa.table({"a": [1, 2], "b": [3, 4]}), "other-bucket/l/t.parquet", filesystem=s3)
    with s3.open_output_stream("other-bucket/l/d/_delta_log/00000000000000000000.json") as f:
        f.write(b"{}")
    with s3.open_output_stream("other-bucket/l/c.iceberg.json") as f:
        f.write(b"{}")
    result = scan("s3://other-bucket/l")
    assert set(result.profiles) == {"t"}
    assert {s.path: s.reason.split(":")[0] for s in result.skipped} == {
        "s3://other-bucket/l/c.iceberg.json": "Iceberg catalog file on an object store",
        "s3://other-bucket/l/d": "not a readable Delta table (damaged or missing log file?)"}
    assert main(["lake", "scan", "s3://other-bucket/nothing", "-o", str(tmp_path / "o"), "-q"]) == 2
    assert capsys.readouterr().err.strip() == "error: lake root s3://other-bucket/nothing does not exist"


def test_delta_table_on_s3_is_read_like_its_local_copy(s3_env, tmp_path):
    deltalake = pytest.importorskip("deltalake")
    from prunekit.lake.delta import storage_options

    boto3.client("s3").create_bucket(Bucket="delta-bucket")
    s3, _ = pafs.FileSystem.from_uri("s3://delta-bucket")
    parent = pa.table({"id": np.arange(500), "g": np.arange(500) % 7, "v": np.arange(500) * 0.5})
    child = parent.filter(pc.equal(parent["g"], 3))
    local = tmp_path / "lake"
    local.mkdir()
    pq.write_table(parent, "delta-bucket/lake/all.parquet", filesystem=s3)
    pq.write_table(parent, local / "all.parquet")
    for i, part in enumerate((child.slice(0, 30), child.slice(30))):   # two versions, two data files
        mode = "overwrite" if i == 0 else "append"
        deltalake.write_deltalake("s3://delta-bucket/lake/events", part, mode=mode, partition_by=["g"],
                                  storage_options=storage_options("s3://delta-bucket"))
        deltalake.write_deltalake(str(local / "events"), part, mode=mode, partition_by=["g"])
    remote, here = scan("s3://delta-bucket/lake"), scan(local, cache=False)
    assert not remote.skipped and remote.profiles["events"].format == "delta"
    assert remote.profiles["events"].signature.startswith("delta:v1:")     # the log's newest version
    for name in ("all", "events"):
        p, q = remote.profiles[name], here.profiles[name]
        assert (p.rows, p.columns) == (q.rows, q.columns), name
    assert {(e.parent, e.child) for e in remote.edges} == {(e.parent, e.child) for e in here.edges} \
        == {("all", "events")}
    # deleted with a verified recipe and restored byte for byte, log and history included; purge
    # refuses it (a rebuild has no history), as on a local disk
    before = _objects("lake", "delta-bucket")
    scan_to_folder("s3://delta-bucket/lake", tmp_path / "scan", graph=False)
    plan = plan_to_file(tmp_path / "scan", tmp_path / "plan.json", default_accesses=0)
    assert [d["table"] for d in plan["deletions"]] == ["events"]
    assert apply_plan(tmp_path / "plan.json", execute=True).deleted == ["events"]
    assert not [k for k in _objects("lake", "delta-bucket") if "/lake/events/" in k]
    purged = purge("s3://delta-bucket/lake", None, execute=True)
    assert [(r["table"], r["outcome"]) for r in purged] == [("events", "refused")]
    assert "history" in purged[0]["detail"]
    restore_tables("s3://delta-bucket/lake", ["events"])
    assert {k: v for k, v in _objects("lake", "delta-bucket").items() if "/.prunekit-trash/" not in k} == before
    assert read_table("s3://delta-bucket/lake/events", "delta").num_rows == child.num_rows


def test_uri_forms():
    assert objectstore.is_uri("s3://b/k") and objectstore.is_uri(Path("s3://b/k"))   # Path gives s3:/b/k
    assert objectstore.normalise(Path("s3://b/k/")) == "s3://b/k"
    assert not objectstore.is_uri("/tmp/x") and not objectstore.is_uri("file:///tmp/x")
    assert not objectstore.is_uri("C:/data") and not objectstore.is_uri("lake/x.parquet")
