"""Engines that run the geometry pipeline over a sharded data set: ``score_shards`` with the
``ray`` executor (a Ray cluster) or the ``inprocess`` one (this process, piece by piece). Both run the local engine's
functions piece by piece and write the same artefacts as ``score`` + ``select``. Shards of raw inputs are
embedded first with the user's encoder (``embed``: ``encoder=`` here, ``read_embedded`` for the local engine)."""

from prunekit.data.engines.embed import embed_shards, read_embedded
from prunekit.data.engines.sharded import ENGINES, ShardedRun, score_shards

__all__ = ["ENGINES", "ShardedRun", "embed_shards", "read_embedded", "score_shards"]
