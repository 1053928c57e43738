"""The executor of the ``inprocess`` sharded engine (and of the local engine's ``--encoder``): the
pieces of work one after another in this process, with the Ray executor's interface."""

from __future__ import annotations


class InProcessExecutor:
    """Runs the pieces one after another in this process (the ``inprocess`` engine)."""

    def __init__(self, show_progress: bool | None = None) -> None:
        self.show_progress = show_progress

    def run(self, jobs: list, description: str) -> None:
        from prunekit._progress import progress

        with progress(len(jobs), description, self.show_progress) as advance:
            for fn, args, kwargs in jobs:
                fn(*args, **kwargs)
                advance(1)

    def run_actors(self, cls: type, init: tuple, jobs: list, description: str) -> int:
        """The jobs on one ``cls(*init)`` (built once, e.g. one loaded encoder), one after another."""
        from prunekit._progress import progress

        worker = cls(*init) if jobs else None
        with progress(len(jobs), description, self.show_progress) as advance:
            for args, kwargs in jobs:
                worker.run(*args, **kwargs)
                advance(1)
        return 0

    def close(self) -> None:
        pass
