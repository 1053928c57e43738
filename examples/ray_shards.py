"""The Ray engine on real data: MNIST-5k (bundled) written as Parquet shards, scored with
prototypicality + SemDeDup + density on Ray Data and selected with DBP; checked against the local
engine on the same rows (docs/GUIDE.md, "Shards and the Ray engine").

    python examples/ray_shards.py --out ray-mnist          # a local Ray on this machine's CPUs
    python examples/ray_shards.py --out ray-mnist --address HOST:6379   # an existing cluster

On a cluster, write the shards where every node can read them (``--shards s3://bucket/mnist``,
with ``pip install 'prunekit[s3]'``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from prunekit.data import score, select
from prunekit.data.engines import score_shards
from prunekit.datasets import load
from prunekit.io.shards import read_shards

METHODS = ["prototypicality", "semdedup", "density"]


def write_shards(folder: Path, n_shards: int) -> None:
    ex = load("mnist5k").train_examples()
    folder.mkdir(parents=True, exist_ok=True)
    for i, rows in enumerate(np.array_split(np.arange(len(ex)), n_shards)):
        pq.write_table(pa.table({
            "id": [str(v) for v in ex.ids[rows]],
            "label": [ex.label_names[v] for v in ex.labels[rows]],
            "embedding": pa.array(list(ex.embeddings[rows].astype(np.float32)), type=pa.list_(pa.float32())),
        }), folder / f"part-{i:03d}.parquet")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, required=True, help="folder for the shards and the artefacts (new)")
    ap.add_argument("--shards", help="where the shards go (default OUT/shards)")
    ap.add_argument("--n-shards", type=int, default=8)
    ap.add_argument("--address", help="an existing Ray cluster (default: start a local one)")
    a = ap.parse_args()
    shards = Path(a.shards) if a.shards else a.out / "shards"
    if not a.shards:
        write_shards(shards, a.n_shards)
    params = {"k": 20, "eps": 0.05}
    run = score_shards(str(shards), METHODS, a.out / "scores.parquet", engine="ray", address=a.address, seed=0,
                       selection={"out": a.out / "selection.parquet", "method": "dbp", "keep": 0.3, "dedup": True},
                       **params)
    kept = int(run.selection.keep.sum())
    dups = int((run.scores.duplicate_of >= 0).sum())
    print(f"{len(run.scores):,} examples in {len(run.scores.meta['source']['shards'])} shards: "
          f"{dups} near-duplicates, {kept:,} kept; seconds per stage {run.seconds}")
    # the same rows through the local engine: the same scores and the same selection
    local = score(read_shards(str(shards)), METHODS, seed=0, **params)
    same = all(np.array_equal(local.scores[c], run.scores.scores[c]) for c in local.scores)
    same &= np.array_equal(select(local, "dbp", 0.3, dedup=True, seed=0).keep, run.selection.keep)
    print(f"local engine on the same rows: {'identical' if same else 'DIFFERENT'}")
    if not same:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
