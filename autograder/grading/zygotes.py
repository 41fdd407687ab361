"""The Dask worker plugin that gives each worker its zygote (:mod:`autograder.sandboxed.warm`).

Registered by :class:`autograder.grading.backends.Dask` on every worker of the cluster, present
and future: ``setup`` starts the worker's zygote (its imports go on in the background) and
``teardown`` ends it when the worker closes. The local pool's workers do the same in their
initializer (:func:`autograder.sandboxed.warm_up`).
"""

from __future__ import annotations

from typing import Any

from distributed.diagnostics.plugin import WorkerPlugin


class Zygotes(WorkerPlugin):
    name = "autograder-zygotes"

    def setup(self, worker: Any) -> None:
        from autograder.sandboxed import start_zygote

        start_zygote()

    def teardown(self, worker: Any) -> None:
        from autograder.sandboxed import stop_zygote

        stop_zygote()
