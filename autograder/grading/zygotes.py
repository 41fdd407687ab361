"""The Dask worker plugin that gives each worker its zygote (:mod:`autograder.sandboxed.warm`).

Registered by :class:`autograder.grading.backends.Dask` on every worker of the cluster, present
and future: ``setup`` starts the worker's zygote (its imports go on in the background) and
``teardown`` ends it when the worker closes. On a local cluster, each worker's zygote is a fork of
one that the coordinator started, as a local pool's workers' are; the pool's workers start theirs
in their initializer (:func:`autograder.sandboxed.warm_up`).
"""

from __future__ import annotations

from typing import Any

from distributed.diagnostics.plugin import WorkerPlugin


class Zygotes(WorkerPlugin):
    """``shared``: a local cluster's shared zygote (its socket), of which each worker's zygote is
    a fork (:mod:`autograder.sandboxed.shared_zygote`); a worker that cannot reach it, or a
    remote cluster's, starts a zygote of its own."""

    name = "autograder-zygotes"

    def __init__(self, shared: str | None = None) -> None:
        self.shared = shared

    def setup(self, worker: Any) -> None:
        from autograder.sandboxed import start_zygote

        start_zygote(shared=self.shared)

    def teardown(self, worker: Any) -> None:
        from autograder.sandboxed import stop_zygote

        stop_zygote()
