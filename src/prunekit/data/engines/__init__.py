"""Engines that run the geometry pipeline over a sharded data set: ``score_shards`` with the
``ray`` executor (a Ray cluster) or the ``inprocess`` one (this process, piece by piece). Both run the local engine's
functions piece by piece and write the same artefacts as ``score`` + ``select``."""

from prunekit.data.engines.sharded import ENGINES, ShardedRun, score_shards

__all__ = ["ENGINES", "ShardedRun", "score_shards"]
