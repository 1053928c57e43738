"""Ray for the sharded pipeline (``engine="ray"``): connecting to a cluster or starting a local one,
and the encoder's actor pool. The geometry stages themselves are Ray Data datasets
(``raydata.py``); at most ``workers`` tasks or actors run at once.

``address``: an existing cluster (``ray://host:10001`` or ``host:6379``); otherwise a Ray
already started in this process is used, or a local one is started for the run and stopped after.
Needs ``pip install 'prunekit[ray]'``.
"""

from __future__ import annotations

import pickle
import warnings


from prunekit.errors import ConfigError, InputError, require

#: seconds to reach a given address before the run is refused (``ray.init`` itself retries forever)
CONNECT_TIMEOUT_S = 10


class RayExecutor:
    def __init__(self, *, address: str | None = None, workers: int | None = None,
                 show_progress: bool | None = None) -> None:
        ray = require("ray", "ray")
        if workers is not None and (not isinstance(workers, int) or workers < 1):
            raise ConfigError(f"workers must be an integer >= 1, got {workers!r}")
        self.show_progress = show_progress
        self._own = False
        quiet = {"include_dashboard": False, "log_to_driver": False, "logging_level": "ERROR"}
        if address:
            _check_reachable(address)
            if ray.is_initialized():
                raise ConfigError("Ray is already running in this process; give no address to use it")
            try:
                ray.init(address=address, **{k: v for k, v in quiet.items() if k != "include_dashboard"})
            except Exception as exc:  # ConnectionError, ValueError, TimeoutError, grpc errors...
                msg = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
                raise InputError(f"cannot reach the Ray cluster at {address}: {msg}") from None
            self._own = True
        elif not ray.is_initialized():
            ray.init(num_cpus=workers, **quiet)
            self._own = True
        self.ray = ray
        self.workers = workers or max(1, int(ray.cluster_resources().get("CPU", 1)))

    def run_actors(self, cls: type, init: tuple, jobs: list[tuple[tuple, dict]], description: str) -> int:
        """Run ``cls(*init).run(*args, **kwargs)`` for every job as a Ray Data ``map_batches`` on
        a pool of actors (each keeps its state, e.g. a loaded encoder, across jobs): one GPU per
        actor when the cluster has GPUs (as many actors as GPUs), else one CPU per actor
        (``workers`` of them). An actor that dies is restarted and its job retried; an error in a
        job stops the run (the jobs already finished keep what they wrote). Returns the GPUs used
        per actor."""
        from prunekit._progress import progress
        from prunekit.data.engines.raydata import _batches, quiet_data

        if not jobs:
            return 0
        ray = self.ray
        gpus = int(ray.cluster_resources().get("GPU", 0))
        res = {"num_gpus": 1} if gpus else {"num_cpus": 1}
        with quiet_data(ray) as rd, progress(len(jobs), description, self.show_progress) as advance:
            items = [{"job": j, "call": pickle.dumps(job)} for j, job in enumerate(jobs)]
            with warnings.catch_warnings():  # the retry limits are "ray_remote_args", deprecated for
                warnings.filterwarnings("ignore", message=".*ray_remote_args.*")  # Ray 2.64 with no named form yet
                ds = rd.from_items(items, override_num_blocks=len(jobs)).map_batches(
                    _ActorJobs, batch_size=1, batch_format="numpy", concurrency=min(len(jobs), gpus or self.workers),
                    fn_constructor_args=(cls, init), **res, **_ACTOR_RETRIES)
            for batch in _batches(ds):
                advance(len(batch["job"]))
        return 1 if gpus else 0

    def close(self) -> None:
        if self._own:
            self.ray.shutdown()


#: an actor whose process dies is restarted and its job retried, a few times: Ray Data's default
#: is forever, so an encoder that crashes its process on some input would hang the run
_ACTOR_RETRIES = {"max_restarts": 3, "max_task_retries": 3}


class _ActorJobs:
    """A Ray Data actor: one ``cls(*init)`` for its whole life, running the jobs its rows carry."""

    def __init__(self, cls: type, init: tuple) -> None:
        self.worker = cls(*init)

    def __call__(self, batch: dict) -> dict:
        for call in batch["call"]:
            args, kwargs = pickle.loads(call)
            self.worker.run(*args, **kwargs)
        return {"job": batch["job"]}


def _check_reachable(address: str) -> None:
    """Refuse an address nothing listens on, in seconds (``ray.init`` would retry for minutes)."""
    import socket

    if address in ("auto", "local"):
        return
    hostport = address.split("://", 1)[-1].rstrip("/")
    host, _, port = hostport.rpartition(":")
    if not host or not port.isdigit():
        raise ConfigError(f"--address must be host:port or ray://host:port, got {address!r}")
    try:
        socket.create_connection((host, int(port)), timeout=CONNECT_TIMEOUT_S).close()
    except OSError as exc:
        raise InputError(f"cannot reach the Ray cluster at {address}: {exc.strerror or exc}") from None
