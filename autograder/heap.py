"""The objects a grading process keeps, out of the cyclic garbage collector's way.

A process that grades holds hundreds of thousands of objects for as long as it lives: the
modules it imported (nbclient, nbgrader, numpy; torch in the coordinator), the reference's probe
records, the mutants' results. Each full pass of Python's collector walks every one of them, and
the objects a submission's results are made of (chapter 05's hold some ten thousand arrays) set
such passes off. Measured on chapter 05 with the local pool: the coordinator's collections took
4.1 to 4.4 s of a 16-submission run, 2.0 to 2.1 s frozen; in a serial run, a worker's
``grade_notebook`` took 440 ms a submission, 100 of them in full passes, and 347 ms frozen.

:func:`settle` collects what is garbage, then freezes the rest (``gc.freeze``): the collector
no longer walks it, while reference counting still frees whatever of it is dropped. What the
process makes after that is collected as before. Who settles: a pool's or a Dask nanny's
worker, once, after its imports (:func:`autograder.sandboxed.worker.warm_up`); the
coordinator, once its judge is ready and after each batch of mutants it runs; and it calls
:func:`unsettle` at the end of the run (:func:`autograder.grading.grade.grade_run`), for a
process that goes on after grading (a test session, a notebook).
"""

from __future__ import annotations

import gc

_settled = False


def settle() -> None:
    """Collect the garbage there is now, then keep what is left out of the collector's passes."""
    global _settled
    gc.collect()
    gc.freeze()
    _settled = True


def unsettle() -> None:
    """Everything :func:`settle` froze is the collector's again (``gc.unfreeze``)."""
    global _settled
    gc.unfreeze()
    _settled = False


def settle_a_worker() -> None:
    """:func:`settle`, once, in a process started to grade (a local pool's worker, or a Dask
    nanny's: ``multiprocessing``'s children), never in one that goes on after grading."""
    import multiprocessing

    if not _settled and multiprocessing.parent_process() is not None:
        settle()
