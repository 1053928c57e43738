"""Ray as the executor of the sharded pipeline (``engine="ray"``): each piece of work is one Ray
task on one CPU; at most ``workers`` run at once; a task whose worker process dies is retried
(``max_retries``), and since a piece writes its result atomically, the retry's output is the
same. A piece that fails with an input error stops the run after the pieces already running have
finished (they stay for a resume); its message names the shard.

``address``: an existing cluster (``ray://host:10001`` or ``host:6379``); otherwise a Ray
already started in this process is used, or a local one is started for the run and stopped after.
Needs ``pip install 'prunekit[ray]'``.
"""

from __future__ import annotations

from typing import Any

from prunekit.errors import ConfigError, InputError, PrunekitError, require

#: seconds to reach a given address before the run is refused (``ray.init`` itself retries forever)
CONNECT_TIMEOUT_S = 10


class RayExecutor:
    def __init__(self, *, address: str | None = None, workers: int | None = None,
                 show_progress: bool | None = None, max_retries: int = 3) -> None:
        ray = require("ray", "ray")
        if workers is not None and (not isinstance(workers, int) or workers < 1):
            raise ConfigError(f"workers must be an integer >= 1, got {workers!r}")
        self.show_progress = show_progress
        self.max_retries = max_retries
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

    def run(self, jobs: list[tuple[Any, tuple, dict]], description: str) -> None:
        """Run ``(function, args, kwargs)`` jobs as tasks, ``workers`` at a time, with progress."""
        from prunekit._progress import progress

        if not jobs:
            return
        ray = self.ray
        queue = list(jobs)
        pending: dict[Any, int] = {}
        tasks: dict[Any, Any] = {}
        failure: BaseException | None = None
        with progress(len(jobs), description, self.show_progress) as advance:
            while pending or (queue and failure is None):
                while queue and failure is None and len(pending) < self.workers:
                    fn, args, kwargs = queue.pop(0)
                    if fn not in tasks:  # one registration per function, not per piece
                        tasks[fn] = ray.remote(fn).options(num_cpus=1, max_retries=self.max_retries)
                    pending[tasks[fn].remote(*args, **kwargs)] = len(pending)
                done, _ = ray.wait(list(pending), num_returns=1)
                for ref in done:
                    pending.pop(ref)
                    try:
                        ray.get(ref)
                    except Exception as exc:  # noqa: BLE001 - unwrapped below
                        failure = failure or _unwrap(exc)
                    advance(1)
        if failure is not None:
            raise failure

    def run_actors(self, cls: type, init: tuple, jobs: list[tuple[tuple, dict]], description: str) -> int:
        """Run ``cls(*init).run(*args, **kwargs)`` for every job on a pool of actors (each keeps
        its state, e.g. a loaded encoder, across jobs): one GPU per actor when the cluster has
        GPUs (as many actors as GPUs), else one CPU per actor (``workers`` of them). A failure
        stops the dispatch; the jobs already running finish. Returns the GPUs used per actor."""
        from prunekit._progress import progress

        if not jobs:
            return 0
        ray = self.ray
        gpus = int(ray.cluster_resources().get("GPU", 0))
        res = {"num_gpus": 1, "num_cpus": 1} if gpus else {"num_cpus": 1}
        actor = ray.remote(cls).options(max_restarts=self.max_retries, max_task_retries=self.max_retries, **res)
        pool = [actor.remote(*init) for _ in range(min(len(jobs), gpus or self.workers))]
        idle, queue, pending = list(pool), list(jobs), {}
        failure: BaseException | None = None
        try:
            with progress(len(jobs), description, self.show_progress) as advance:
                while pending or (queue and failure is None):
                    while queue and failure is None and idle:
                        a = idle.pop()
                        args, kwargs = queue.pop(0)
                        pending[a.run.remote(*args, **kwargs)] = a
                    done, _ = ray.wait(list(pending), num_returns=1)
                    for ref in done:
                        idle.append(pending.pop(ref))
                        try:
                            ray.get(ref)
                        except Exception as exc:  # noqa: BLE001 - unwrapped below
                            failure = failure or _unwrap(exc)
                        advance(1)
        finally:
            for a in pool:
                ray.kill(a)
        if failure is not None:
            raise failure
        return 1 if gpus else 0

    def close(self) -> None:
        if self._own:
            self.ray.shutdown()


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


def _unwrap(exc: BaseException) -> BaseException:
    """The user's error out of Ray's wrapper; a worker that kept dying becomes one line."""
    cause = getattr(exc, "cause", None)
    if isinstance(cause, PrunekitError):
        return cause
    name = type(exc).__name__
    if "WorkerCrashed" in name or "ActorDied" in name or "ObjectLost" in name:
        return PrunekitError(f"a Ray worker died and its retries ran out: {str(exc).splitlines()[0]}")
    if cause is not None:
        return cause
    return exc
