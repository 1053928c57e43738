"""A lake on an object store (``s3://bucket/prefix``), against a local moto S3 server: scanned and
planned like the same lake on a local disk (same tables, profiles, checksums, edges), read-only;
apply, restore, purge and trash refuse it with one line."""

from __future__ import annotations

import logging
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

from prunekit.cli import main  # noqa: E402
from prunekit.lake import objectstore  # noqa: E402
from prunekit.lake.catalog import scan_catalog  # noqa: E402
from prunekit.lake.deletion_plan import plan_to_file  # noqa: E402
from prunekit.lake.scan import scan, scan_to_folder  # noqa: E402


@pytest.fixture(scope="module")
def s3_env():
    """A moto S3 server on a free port for this module, the AWS environment pointing at it."""
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = moto_server.ThreadedMotoServer(port=0, verbose=False)
    server.start()
    _, port = server.get_host_and_port()
    env = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
           "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}"}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    objectstore._filesystem.cache_clear()
    try:
        yield env
    finally:
        objectstore._filesystem.cache_clear()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        server.stop()


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


def test_plan_works_apply_restore_purge_trash_refuse(s3_lake, tmp_path, capsys):
    uri, _ = s3_lake
    scan_to_folder(uri, tmp_path / "scan", graph=False)
    plan = plan_to_file(tmp_path / "scan", tmp_path / "plan.json")
    assert plan["scan"]["root"] == uri and plan["deletions"]
    capsys.readouterr()
    for argv in (["apply", str(tmp_path / "plan.json")], ["apply", str(tmp_path / "plan.json"), "--execute"],
                 ["restore", "pos", "--lake", uri], ["purge", "--lake", uri, "--execute"],
                 ["trash", "--lake", uri]):
        assert main(["lake", *argv]) == 2, argv
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "is on an object store" in err[0] and "local lakes only" in err[0], argv


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
        "s3://other-bucket/l/d": "Delta table on an object store"}
    assert main(["lake", "scan", "s3://other-bucket/nothing", "-o", str(tmp_path / "o"), "-q"]) == 2
    assert capsys.readouterr().err.strip() == "error: lake root s3://other-bucket/nothing does not exist"


def test_uri_forms():
    assert objectstore.is_uri("s3://b/k") and objectstore.is_uri(Path("s3://b/k"))   # Path gives s3:/b/k
    assert objectstore.normalise(Path("s3://b/k/")) == "s3://b/k"
    assert not objectstore.is_uri("/tmp/x") and not objectstore.is_uri("file:///tmp/x")
    assert not objectstore.is_uri("C:/data") and not objectstore.is_uri("lake/x.parquet")
