"""The results channel: forged probe results and pickles.

``forged_results`` writes where only bubblewrap keeps it out (the host's /tmp, the gradebook by
its path); ``pickle_payloads`` is stopped by the coordinator, which unpickles nothing.
"""

from __future__ import annotations

import os
import pickle

from tests.adversarial.attacks.kit import (
    GRADED,
    Catalogue,
    Context,
    all_wrong,
    correct,
    fill,
)

ATTACKS = Catalogue("results channel")


FORGE_RESULTS = """\
import builtins as _builtins
import json as _json
import os as _os
import sqlite3 as _sqlite3

_real_open = _builtins.open


def _open(file, mode="r", *args, **kwargs):
    # the probe runner's own results go nowhere: only the forged ones stay
    if isinstance(file, str) and "probes-out" in file and "w" in mode:
        file = _os.devnull
    return _real_open(file, mode, *args, **kwargs)


_builtins.open = _open
try:
    from ipykernel import get_connection_file as _connection_file

    _private = _os.path.dirname(_connection_file())
except Exception:
    _private = None
_places = [_os.getcwd(), "/tmp"]
if _private:
    _places += [_private, _os.path.join(_private, "probes-out")]
for _place in _places:
    for _name in __PROBES__:
        _calls = 1
        try:
            with _real_open(_os.path.join(_private, "probes-in", _name + ".json")) as _h:
                _calls = len(_json.load(_h)["calls"])
        except Exception:
            pass
        try:
            with _real_open(_os.path.join(_place, _name + ".json"), "w") as _h:
                _json.dump([{"result": {"tuple": [1, 2]}}] * _calls, _h)
        except OSError as _err:
            print("could not plant in", _place, type(_err).__name__)
for _db in __DATABASES__:
    try:
        _conn = _sqlite3.connect(f"file:{_db}?mode=rw", uri=True)
        _conn.execute("UPDATE grade SET auto_score = 100")
        _conn.commit()
        print("TAMPERED", _db)
    except Exception as _err:
        print("no database at", _db, type(_err).__name__)
print("forged results planted")
"""


@ATTACKS.attack(
    "forged_results",
    0,
    GRADED,
    "fake `<probe>.json` results in the cwd, /tmp and the kernel's connection folder (its "
    "probes-out included, the runner's own writes sent to /dev/null); the gradebook opened with "
    "sqlite3",
    sandbox=True,
)
def _forged_results(ctx: Context) -> str:
    databases = [str(ctx.workspace / "gradebook.db"), str(ctx.workspace / "autograder_results.db")]
    return all_wrong(ctx, fill(FORGE_RESULTS, probes=list(ctx.probe_names), databases=databases))


class Unpickled:
    """Unpickling this calls ``os.mkdir(path)``: the proof that someone unpickled it."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self) -> tuple:
        return (os.mkdir, (self.path,))


def _planted(ctx: Context) -> dict[str, bytes]:
    marker = str(ctx.host_marker)
    return {
        "results.pkl": pickle.dumps(Unpickled(marker)),
        "probes-out/linear_algebra_matmul_broadcast_fixed.pkl": pickle.dumps(Unpickled(marker)),
        # never copied for grading (nbgrader ignores *.probes.py), never imported
        "linear_algebra.probes.py": f"import os\nos.mkdir({marker!r})\n".encode(),
    }


PICKLING_SAVE = """\
import os as _os

import numpy as _np


class _Payload:
    def __reduce__(self):
        return (_os.mkdir, (__MARKER__,))


_real_save = _np.save


def _pickling_save(file, arr, *args, **kwargs):
    boxed = _np.empty(1, dtype=object)
    boxed[0] = _Payload()
    return _real_save(file, boxed, allow_pickle=True)


_np.save = _pickling_save
"""


@ATTACKS.attack(
    "pickle_payloads",
    3,
    GRADED,
    "np.save patched so the probe runner's arrays are pickles whose __reduce__ makes a marker on "
    "the host, and such pickles (and a *.probes.py doing the same) planted beside the notebook "
    "(correct code): every array result is unreadable; broadcast_shape (tuples) keeps its 3",
    files=_planted,
)
def _pickle_payloads(ctx: Context) -> str:
    return correct(ctx, fill(PICKLING_SAVE, marker=str(ctx.host_marker)))
