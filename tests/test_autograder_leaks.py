"""No probe input reaches an autograded notebook or a feedback page, through any channel.

The probes' inputs are in the student's kernel while the probes run: the answer functions receive
them. Three submissions of chapter 01, graded for real (bubblewrap, real kernels, the chapter's
own probes), try to carry them out:

- ``leak_outputs``: correct answers that, on every call, write their arguments to stdout, to
  ``sys.stderr``, to the kernel's file descriptors 1 and 2, through IPython's display (text,
  HTML, and ``update_display`` of an output shown earlier), ``warnings.warn`` and ``logging``,
  into files in the working folder and in ``/tmp``; and, while probed, the input files
  themselves, read from the kernel's folder. On the visible tests' calls they write known
  stand-in values the same way, which must show (so each channel does reach the notebook).
- ``leak_raises``: exceptions whose message carries the values, and whose class *name* does
  (one caught by the probe runner, one that escapes it), a returned object of a class named
  with them, and a kernel that writes them to its stderr as its last words and dies.
- ``leak_forged``: the runner's results files replaced by hostile ones that carry the values in
  tensor flags, exception and type names, and dict keys, or that break the JSON's limits
  (nesting, NaN, a key twice, bytes that are not UTF-8, an overlong number).

After grading and ``feedback``, no file under the workspace's ``autograded/`` and ``feedback/``
holds a probe input value: none of the decimal renderings of 8 to 17 decimals, the 12-digit runs
the names use, the hex or the raw bytes of the input arrays. A test plants each rendering in a
real autograded notebook and a real feedback page and checks that the search finds it.
``tests/adversarial`` also has ``display_leak`` (update_display) and ``early_inputs`` (the
inputs read before the probes run); the unit tests below cover what the verdicts and the results
reader do with hostile data without a kernel.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import nbformat
import numpy as np
import pytest

from autograder.config import CourseConfig, GradingConfig
from autograder.grading.feedback import feedback
from autograder.grading.grade import grade_run
from autograder.grading.judge import NO_RESULTS, _why
from autograder.grading.workspace import Workspace
from autograder.probes import (
    BadResults,
    Raised,
    TensorValue,
    Unsupported,
    agree,
    encode_inputs,
    load,
    read_results,
    verdict,
)
from autograder.results import MAX_ARRAY_BYTES, MAX_JSON_BYTES, read_arrays
from autograder.strict_json import MAX_DEPTH
from tests.adversarial.attacks.kit import ASSIGNMENT, NOTEBOOK, answer_id, meta, reference_answers
from tests.conftest import ROOT

PROBES_FILE = ROOT / "solutions" / ASSIGNMENT / "linear_algebra.probes.py"
STAND_IN_SEED = 7_700_113  # the values the visible tests' calls write instead of their inputs
DIGITS = 12  # the length of the digit runs that carry a value in a name


# ---- the results reader: limits before parsing, and a failed probe, never a crash --------------


def _results(folder: Path, data: bytes, name: str = "p") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.json").write_bytes(data)
    return folder


@pytest.mark.parametrize(
    "data, why",
    [
        (b"[" * 200_000 + b"]" * 200_000, "nested too deeply"),  # past the parser's recursion
        (b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1), "nested too deeply"),
        (b'[{"result": ' + b'{"a": ' * 120 + b"1" + b"}" * 121 + b"]", "nested too deeply"),
        (b'[{"result": ' + b'[{"x": ' * 60 + b"1" + b"}]" * 60 + b"}]", "nested too deeply"),
        (b'[{"result": NaN}]', "NaN or Infinity"),
        (b'[{"result": -Infinity}]', "NaN or Infinity"),
        (b'[{"result": 1e999}]', "overflows"),
        (b'[{"result": ' + b"7" * 5000 + b"}]", "too long"),  # past int()'s own limit too
        (b'[{"result": 0.' + b"3" * 1000 + b"}]", "too long"),
        (b'[{"result": 1, "result": 2}]', "a key twice"),
        (b'[{"result": "\xe9t\xe9"}]', "not UTF-8"),  # latin-1
        ('[{"result": 1}]'.encode("utf-16"), "not UTF-8"),  # json.loads would take UTF-16
        (b'[{"result": "' + b"x" * MAX_JSON_BYTES + b'"}]', "too large"),
        (b'[{"result": 1}', "not valid JSON"),
    ],
    ids=lambda v: v[:24].decode(errors="replace") if isinstance(v, bytes) else v,
)
def test_hostile_results_json_is_refused_before_it_is_parsed(
    tmp_path: Path, data: bytes, why: str
) -> None:
    with pytest.raises(BadResults, match=why) as refused:
        read_results(_results(tmp_path, data), "p", 1)
    assert not re.search(r"\d{3}|x{3}", str(refused.value)), "the reason quotes the file"


def test_the_depth_limit_is_checked_before_the_parser(tmp_path: Path) -> None:
    """JSON one level past the limit parses fine with json.loads: refusing it shows that the
    check comes first, far below where the parser's recursion would run out. At the limit, the
    JSON is parsed, and the schema's own limit refuses it."""
    deep = b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1)
    assert json.loads(deep)
    with pytest.raises(BadResults, match="the results JSON is nested too deeply"):
        read_results(_results(tmp_path, deep), "p", 1)
    at_limit = b'[{"result": ' + b"[" * (MAX_DEPTH - 2) + b"]" * (MAX_DEPTH - 2) + b"}]"
    with pytest.raises(BadResults, match="the results are nested too deeply"):
        read_results(_results(tmp_path, at_limit), "p", 1)
    brackets = b'[{"result": "' + b"[{" * 10_000 + b'"}]'  # brackets in a string do not count
    assert read_results(_results(tmp_path, brackets), "p", 1)[0]["result"] == "[{" * 10_000


def test_strings_that_look_like_tokens_are_plain_strings(tmp_path: Path) -> None:
    data = json.dumps([{"result": ["NaN", "Infinity", "1e999", '"[', "\\"]}]).encode()
    got = read_results(_results(tmp_path, data), "p", 1)
    assert got[0]["result"] == ["NaN", "Infinity", "1e999", '"[', "\\"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads a file whatever its mode")
def test_results_made_unreadable_are_a_failed_probe(tmp_path: Path) -> None:
    """Without root, the kernel runs as the grader's user, and can chmod its results to 000."""
    (_results(tmp_path, b'[{"result": 1}]') / "p.json").chmod(0)
    with pytest.raises(BadResults, match="unreadable"):
        read_results(tmp_path, "p", 1)


def test_an_array_named_again_and_again_is_refused(tmp_path: Path) -> None:
    """One array named in every record would be sent on once per mention: the bytes are
    counted per mention, and the results are refused past the budget."""
    with (tmp_path / "p.arrays").open("wb") as handle:  # np.save of a path would add ".npy"
        np.save(handle, np.zeros(2 * 2**20), allow_pickle=False)  # 16 MiB
    allowed = MAX_ARRAY_BYTES // (2 * 2**20 * 8)
    data = json.dumps([{"result": [{"ndarray": 0}] * (allowed + 1)}]).encode()
    with pytest.raises(BadResults, match="arrays of the results are too large"):
        read_results(_results(tmp_path, data), "p", 1)
    two = json.dumps([{"result": [{"ndarray": 0}] * 2}]).encode()
    assert len(read_results(_results(tmp_path, two), "p", 1)[0]["result"]) == 2


# ---- verdicts: the grader's words only ---------------------------------------------------------

SECRET = "0.30471707975443135"  # stands for a probe input the student's side has seen
CHOSEN = ("E_" + SECRET.replace(".", "_"), "the results 0_30471707975443135: " + SECRET)


@dataclass(frozen=True)
class _Probe:
    function: str = "f"
    rtol: float = 1e-7
    atol: float = 1e-9
    compare: None = None


def _tensor(flags: list) -> TensorValue:
    return TensorValue.of(np.ones(2), flags)


@pytest.mark.parametrize("chosen", CHOSEN)
def test_a_verdict_repeats_nothing_the_student_side_chose(chosen: str) -> None:
    want = _tensor(["torch.float64", "cpu", False, False])
    for got in (
        Raised(chosen),  # a caught exception's class name (any string: type(name, bases, {}))
        Unsupported(chosen),  # the class name of a returned object
        _tensor([chosen[:40], "cpu", False, False]),  # a dtype, as the results file says
        _tensor(["torch.float64", chosen[:20], False, False]),  # a device
        {chosen: 1.0},  # a dict's key
    ):
        why = verdict(_Probe(), [{"result": got}], [{"result": want}])
        assert why and "case 1" in why, why
        assert "3047" not in why, why
    raised = verdict(_Probe(), [{"result": Raised(chosen)}], [{"result": Raised("ValueError")}])
    assert raised and raised.endswith("should raise ValueError"), raised  # the reference's name
    meta = verdict(_Probe(), [{"result": 1.0, "meta": chosen}], [{"result": 1.0, "meta": "t"}])
    assert meta and "3047" not in meta, meta


def test_the_old_words_are_kept_where_they_were_the_graders() -> None:
    assert agree(np.zeros(2), Raised("ValueError"), 0, 0) == "should raise ValueError"
    assert (agree(Raised("RuleBroken"), 1.0, 0, 0) or "").startswith("broke a rule")
    flags = ["torch.float64", "cpu", True, False]
    got = _tensor(["torch.float64", "cpu", False, False])
    assert agree(got, _tensor(flags), 0, 0) == (
        "requires_grad is False (the graph is cut: autograd must flow here)"
    )
    got32 = _tensor(["torch.float32", "cpu", True, False])
    assert agree(got32, _tensor(flags), 0, 0) == (
        "a tensor of another dtype where torch.float64 was expected"
    )


@pytest.mark.parametrize(
    "reason, words",
    [
        ("the notebook's time limit was reached", "it ran past its time limit"),
        ("cell 31 (x) ran past its time limit and the kernel did not answer", "time limit"),
        ("the kernel died in cell 40: fd2 H7-LEAK 0.30471707975443135", "the kernel died"),
        ("the kernel failed: RuntimeError: 0.30471707975443135", "the kernel died"),
        ("the answer cells did not run: the kernel died in cell 3: 0.3047", "answer cells"),
        ("no results were written", "no results were written"),
        ("the results are too large", "its results were too large"),
        ("the results JSON is nested too deeply", "not what the probe runner writes"),
        ("a record of the results has unexpected fields", "not what the probe runner writes"),
        (CHOSEN[0], "it stopped with an error"),  # the name of an exception that escaped
        (CHOSEN[1], "not what the probe runner writes"),  # a name made to look like ours
        ("x" * 100_000 + "results", "it stopped with an error"),
    ],
    ids=lambda v: v[:30],
)
def test_a_probe_without_results_is_named_in_the_graders_words(reason: str, words: str) -> None:
    said = _why(reason)
    assert words in said and said in {w for _, w in NO_RESULTS}, said


# ---- the channels, end to end ------------------------------------------------------------------

#: At the top of the first answer cell: what every leaking wrapper uses.
PRELUDE = f'''
import logging as _h7_logging
import os as _h7_os
import sys as _h7_sys
import warnings as _h7_warnings

import numpy as _h7_np
from IPython.display import HTML as _h7_HTML, display as _h7_display, update_display as _h7_update

_h7_display("h7 placeholder", display_id="h7-leak")
_H7_STAND_IN = _h7_np.random.default_rng({STAND_IN_SEED}).standard_normal(8)
_h7_read = set()


def _h7_probing():
    """Whether the probe runner called: it is on the stack, or the inputs are in the folder."""
    frame = _h7_sys._getframe(1)
    while frame is not None:
        if frame.f_code.co_filename == "<probe runner>":
            return True
        frame = frame.f_back
    return bool(_h7_input_files())


def _h7_input_files():
    here = _h7_os.path.dirname(get_ipython().config["IPKernelApp"]["connection_file"])
    return sorted(
        _h7_os.path.join(root, n)
        for root, _dirs, names in _h7_os.walk(here)
        for n in names
        if "probes-in" in root and n.endswith(".arrays")
    )


def _h7_arrays(args):
    return [
        a.detach().cpu().numpy()
        for a in args
        if isinstance(a, torch.Tensor) and a.device.type != "meta" and a.is_floating_point()
    ]


def _h7_fd(fd):
    """The kernel process's own stdout or stderr (its log), which ipykernel keeps a copy of when
    it sends what is written to fds 1 and 2 to the notebook instead."""
    stream = _h7_sys.stdout if fd == 1 else _h7_sys.stderr
    return getattr(stream, "_original_stdstream_copy", None) or fd


def _h7_digits(v):
    return f"{{abs(v):.15f}}".replace(".", "").lstrip("0")[:{DIGITS}]


def _h7_render(arrays):
    parts = []
    for array in arrays:
        for v in array.ravel()[:8].tolist():
            parts += [repr(v), f"{{v:.10f}}", f"{{v:.8f}}", "N" + _h7_digits(v)]
        parts.append(array.tobytes()[:32].hex())
    return " ".join(parts)


def _h7_inputs():
    """While probed: up to three of the probes' input arrays, from a file not read yet of the
    kernel's folder (each probe's arrays file holds its .npy records one after another)."""
    found = []
    for path in _h7_input_files():
        if path in _h7_read or len(found) >= 3:
            continue
        _h7_read.add(path)
        with open(path, "rb") as handle:
            size = _h7_os.fstat(handle.fileno()).st_size
            while handle.tell() < size and len(found) < 3:
                array = _h7_np.load(handle)
                if array.dtype.kind == "f" and array.size:
                    found.append(array)
    return found
'''

LEAK = """

def _h7_leak(name, args):
    probing = _h7_probing()
    arrays = _h7_arrays(args) + _h7_inputs() if probing else [_H7_STAND_IN]
    if not arrays:  # a call on the meta device: nothing to carry out
        return
    text = f"H7-LEAK {name} " + _h7_render(arrays)
    print("channel-stdout", text)
    print("channel-stderr", text, file=_h7_sys.stderr)
    _h7_display("channel-display " + text)
    _h7_display(_h7_HTML(f"<p>channel-html {text}</p>"))
    _h7_update("channel-update " + text, display_id="h7-leak")
    _h7_warnings.warn("channel-warning " + text, stacklevel=2)
    _h7_logging.getLogger("h7").warning("channel-logging " + text)
    for fd in (1, 2, _h7_fd(1), _h7_fd(2)):
        _h7_os.write(fd, (f"channel-fd{fd} " + text + "\\n").encode())
    for folder in (_h7_os.getcwd(), "/tmp"):
        with open(_h7_os.path.join(folder, f"h7-{name}.txt"), "a") as handle:
            handle.write(text + "\\n")
"""

#: Appended to an answer cell: the reference, wrapped by ``how`` (source with NAME and CALL).
WRAP = """

_h7_quiet_NAME = NAME


def NAME(*args, **kwargs):
HOW
    return _h7_quiet_NAME(*args, **kwargs)
"""

OUTPUTS = "    _h7_leak('NAME', args)"

RAISES = {
    # caught by the probe runner, which records only the class name (ValueError), not this
    "matmul": """\
    if _h7_probing():
        raise ValueError("H7-LEAK " + _h7_render(_h7_arrays(args)))""",
    # a class named with the values, caught by the runner: the name is in the results file
    "affine": """\
    if _h7_probing():
        raise type("E" + _h7_digits(float(args[1].ravel()[0])), (Exception,), {})("H7-LEAK")""",
    # an object of a class named with the values: not plain data, its type name recorded
    "compose": """\
    if _h7_probing():
        return type("C" + _h7_digits(float(args[0].ravel()[0])), (), {})()""",
    # with gradients, the kernel writes the values to its stderr (its last words in the kernel's
    # log) and dies; else a BaseException escapes the runner, and the cell's error names it
    "bilinear": """\
    if _h7_probing() and args[1].requires_grad:
        _h7_os.write(_h7_fd(2), ("H7-LEAK " + _h7_render(_h7_arrays(args))[:150] + "\\n").encode())
        _h7_os._exit(3)
    if _h7_probing():
        raise type("B" + _h7_digits(float(args[1].ravel()[0])), (BaseException,), {})()""",
}

#: In the first answer cell: the runner's results files, forged as they are written.
FORGE = '''

import json as _h7_json
import pathlib as _h7_pathlib

_h7_write_text = _h7_pathlib.Path.write_text


def _h7_secret_digits(name):
    """Digits of a value of this probe's inputs (or of any probe's), read from the kernel's
    folder."""
    for path in sorted(_h7_input_files(), key=lambda p: name not in p):
        for v in _h7_np.load(path).ravel().tolist():
            if isinstance(v, float) and 1e-3 < abs(v) and len(repr(abs(v))) >= 14:
                return _h7_digits(v)
    raise RuntimeError("no probe input found")


def _h7_forge(records, name, d):
    """Each probe's results, hostile in its own way, carrying the digits d."""
    first = records[0]
    if name == "matmul_fixed":
        first["result"]["flags"][0] = "torch.f" + d
    elif name == "matmul_batched":
        first["result"]["flags"][1] = "c" + d
    elif name == "broadcast_fixed":
        records[0] = {"raised": "E" + d}
    elif name == "broadcast_random":
        first["result"] = {"unsupported": "U" + d}
    elif name == "affine_fixed":
        return ("[" * 200000 + "]" * 200000).encode()
    elif name == "affine_random":
        return ('[NaN, "' + d + '", ' + _h7_json.dumps(records)[1:]).encode()
    elif name == "compose_fixed":
        twice = '{"result": "' + d + '", "result": '
        return _h7_json.dumps(records).replace('{"result": ', twice, 1).encode()
    elif name == "compose_chains":
        return b'["\\xff' + d.encode() + b'"]'
    elif name == "bilinear_fixed":
        return ("[" + d * 100 + "]").encode()
    elif name == "bilinear_random":
        return ("[1e999, " + _h7_json.dumps(records)[1:]).encode()
    elif name == "bilinear_gradients":
        first["result"] = {"dict": [[d, 1.0]]}
    return _h7_json.dumps(records).encode()


def _h7_forged_write_text(self, data, *args, **kwargs):
    if self.parent.name != "probes-out" or self.suffix != ".json":
        return _h7_write_text(self, data, *args, **kwargs)
    forged = _h7_forge(_h7_json.loads(data), self.stem, _h7_secret_digits(self.stem))
    with open(self, "wb") as handle:
        handle.write(forged)
    return len(forged)


_h7_pathlib.Path.write_text = _h7_forged_write_text
'''

TENSOR_FUNCTIONS = {
    "matmul": "matmul_broadcast",
    "affine": "affine_apply",
    "compose": "compose_affine",
    "bilinear": "bilinear_sample",
}


def _submission(exercise: nbformat.NotebookNode, solution: nbformat.NotebookNode, **extra) -> str:
    """The exercise with the reference answers, each followed by ``extra[short]`` (its wrapper),
    and PRELUDE (with LEAK) at the top of the first."""
    answers = reference_answers(solution)
    nb = nbformat.from_dict(json.loads(nbformat.writes(exercise)))
    for short in ("matmul", "broadcast", "affine", "compose", "bilinear"):
        grade_id = answer_id(short)
        source = answers[grade_id] + extra.get(short, "")
        if short == "matmul":
            source = PRELUDE + LEAK + extra.get("first", "") + "\n\n" + source
        for cell in nb.cells:
            if meta(cell).get("grade_id") == grade_id:
                cell.source = source
    return nbformat.writes(nb)


def _wrap(short: str, how: str) -> str:
    name = TENSOR_FUNCTIONS[short]
    return WRAP.replace("HOW", how).replace("NAME", name)


SUBMISSIONS = {
    "leak_outputs": {s: _wrap(s, OUTPUTS) for s in TENSOR_FUNCTIONS},
    "leak_raises": {s: _wrap(s, how) for s, how in RAISES.items()},
    "leak_forged": {"first": FORGE},
}


@dataclass
class Graded:
    workspace: Path
    results: dict  # student -> TaskResult
    pages: list[Path]  # the feedback written

    def files(self) -> list[Path]:
        return sorted(
            p
            for folder in ("autograded", "feedback")
            for p in (self.workspace / folder).rglob("*")
            if p.is_file()
        )

    def autograded(self, student: str) -> str:
        return (self.workspace / "autograded" / student / ASSIGNMENT / NOTEBOOK).read_text()


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory) -> Graded:
    if shutil.which("bwrap") is None and not os.environ.get("CI"):
        pytest.skip("bubblewrap (Debian package 'bubblewrap') is not installed (CI has it)")
    base = tmp_path_factory.mktemp("leaks")
    course = CourseConfig(root=ROOT, cell_timeout=120)
    exercise = nbformat.read(course.release / ASSIGNMENT / NOTEBOOK, as_version=4)
    solution = nbformat.read(course.source / ASSIGNMENT / NOTEBOOK, as_version=4)
    for student, extra in SUBMISSIONS.items():
        folder = base / "submissions" / student / ASSIGNMENT
        folder.mkdir(parents=True)
        (folder / NOTEBOOK).write_text(_submission(exercise, solution, **extra))
    workspace = base / "workspace"
    options = GradingConfig(workers=2, notebook_timeout=600, isolation="bwrap")
    run = grade_run(course, workspace, ASSIGNMENT, base / "submissions", options)
    pages = feedback(Workspace(workspace, course), ASSIGNMENT, sorted(SUBMISSIONS))
    return Graded(workspace, {r.student: r for r in run.results}, pages)


# ---- finding a value in a file ---------------------------------------------------------------

DECIMAL = re.compile(r"(\d+\.\d{8,})")
DIGIT_RUN = re.compile(rf"\d{{{DIGITS},}}")
HEX_RUN = re.compile(r"[0-9a-f]{32,}")


@dataclass(frozen=True)
class Needles:
    """Every rendering of some values that the search looks for."""

    decimals: frozenset[str]  # 8 to 17 decimals (trailing zeros dropped), and repr, no sign
    digits: frozenset[str]  # the first DIGITS significant digits
    hexes: frozenset[str]  # each 16-byte aligned piece of the arrays, in hex
    raw: tuple[bytes, ...]  # the first 16 bytes of each array

    @staticmethod
    def of(arrays: list[np.ndarray]) -> Needles:
        decimals, digits, hexes, raw = set(), set(), set(), []
        for array in arrays:
            values = [abs(v) for v in array.ravel().tolist() if _distinctive(v)]
            if not values:
                continue
            for v in values:
                decimals |= {f"{v:.{p}f}".rstrip("0") for p in range(8, 18)} | {repr(v)}
                if array.dtype == np.float32:
                    decimals.add(str(np.float32(v)))
                digits.add(f"{v:.15f}".replace(".", "").lstrip("0")[:DIGITS])
            data = np.ascontiguousarray(array).tobytes()
            hexes |= {data[i : i + 16].hex() for i in range(0, len(data) - 15, 16)}
            raw.append(data[:16])
        return Needles(frozenset(decimals), frozenset(digits), frozenset(hexes), tuple(raw))

    def found_in(self, data: bytes) -> list[str]:
        """The renderings of these values in ``data`` (a file's bytes)."""
        text = data.decode("utf-8", errors="replace")
        hits = [t for t in DECIMAL.findall(text) if t.rstrip("0") in self.decimals]
        for run in DIGIT_RUN.findall(text):
            windows = {run[i : i + DIGITS] for i in range(len(run) - DIGITS + 1)}
            hits += sorted(windows & self.digits)
        for run in HEX_RUN.findall(text):
            windows = {run[i : i + 32] for i in range(0, len(run) - 31, 2)}
            hits += sorted(windows & self.hexes)
        hits += [piece.hex() for piece in self.raw if piece in data]
        return hits


def _distinctive(v: float) -> bool:
    """A value whose renderings nothing else in a notebook shares by chance: no round number."""
    return 1e-3 < abs(v) < 1e6 and len(repr(abs(v))) >= 14


@pytest.fixture(scope="module")
def probe_inputs() -> Needles:
    """The probes' inputs, as the grader encodes them for the kernel."""
    with tempfile.TemporaryDirectory() as folder:
        encode_inputs(load(PROBES_FILE), Path(folder))
        arrays = [a for f in sorted(Path(folder).glob("*.arrays")) for a in read_arrays(f)]
    found = Needles.of([a for a in arrays if a.dtype.kind == "f"])
    assert len(found.digits) > 500, "too few distinctive inputs to search for"
    return found


def _stand_in() -> Needles:
    return Needles.of([np.random.default_rng(STAND_IN_SEED).standard_normal(8)])


# ---- the end-to-end tests --------------------------------------------------------------------


def test_the_leaking_submissions_were_graded_as_expected(graded: Graded) -> None:
    """Correct answers keep their points whatever they print; each raise and each forged
    results file costs its function's points; none is a grader error, and all are recorded."""
    outcome = {s: (r.score, r.status) for s, r in graded.results.items()}
    assert outcome["leak_outputs"] == (15.0, "graded"), graded.results["leak_outputs"].reason
    assert outcome["leak_raises"][0] == 3.0, graded.results[
        "leak_raises"
    ].reason  # broadcast_shape's
    assert outcome["leak_raises"][1] in ("graded", "kernel_died")
    assert outcome["leak_forged"] == (0.0, "graded"), graded.results["leak_forged"].reason
    assert len(graded.pages) == len(SUBMISSIONS)


def test_no_probe_input_reaches_an_autograded_notebook_or_feedback(
    graded: Graded, probe_inputs: Needles
) -> None:
    files = graded.files()
    assert {p.suffix for p in files} >= {".ipynb", ".html"}
    leaks = {
        str(p.relative_to(graded.workspace)): probe_inputs.found_in(p.read_bytes()) for p in files
    }
    assert {f: hits[:5] for f, hits in leaks.items() if hits} == {}


def _outputs(notebook: str) -> list[str]:
    """The text of every output of each cell of ``notebook`` (no sources), cell by cell."""
    found = []
    for cell in json.loads(notebook)["cells"]:
        texts = []
        for output in cell.get("outputs", []):
            texts.append("".join(output.get("text", "")) + output.get("evalue", ""))
            texts += [
                "".join(v) for v in output.get("data", {}).values() if isinstance(v, str | list)
            ]
        found.append("\n".join(texts))
    return found


def test_every_channel_reaches_the_notebook_from_a_visible_call(graded: Graded) -> None:
    """The same code, called by the visible tests, writes stand-in values through each channel,
    and they show in the outputs: the channels work, and the search finds what they write."""
    outputs = _outputs(graded.autograded("leak_outputs"))
    printed = "\n".join(outputs)
    for channel in ("stdout", "stderr", "display", "html", "update", "warning", "logging"):
        assert f"channel-{channel} H7-LEAK" in printed, channel
    first_answer = next(o for o in outputs if "h7 placeholder" in o or "channel-update" in o)
    assert "channel-update H7-LEAK" in first_answer, "update_display did not rewrite it"
    stand_in = _stand_in()
    notebook = graded.workspace / "autograded" / "leak_outputs" / ASSIGNMENT / NOTEBOOK
    page = next(p for p in graded.pages if "leak_outputs" in p.parts)
    for path in (notebook, page):
        hits = stand_in.found_in(path.read_bytes())
        assert len(set(hits)) >= 8 * 3, f"{path.name}: {hits[:5]}"


def test_the_verdicts_say_what_failed_in_the_graders_words(graded: Graded) -> None:
    raises = graded.autograded("leak_raises")
    assert "raised an exception where the reference returns a value" in raises
    assert "returned an object that is not plain data" in raises
    assert "bilinear_sample: the hidden checks could not run (it stopped with an error)" in raises
    assert "bilinear_sample: the hidden checks could not run (the kernel died)" in raises
    forged = graded.autograded("leak_forged")
    for words in (
        "a tensor of another dtype where torch.float64 was expected",
        "a tensor on another device where cpu was expected",
        "its results were not what the probe runner writes",
        "returned dict where an array was expected",
    ):
        assert words in forged, words


def test_the_search_finds_each_rendering_planted_in_a_real_file(
    graded: Graded, probe_inputs: Needles
) -> None:
    """Proof that the search can fail: one input value (and its array's bytes) planted in a
    real autograded notebook and a real feedback page, in each rendering, is found."""
    with tempfile.TemporaryDirectory() as folder:
        encode_inputs(load(PROBES_FILE), Path(folder))
        array = read_arrays(Path(folder) / "bilinear_random.arrays")[0]
    v = next(float(x) for x in array.ravel() if _distinctive(float(x)))
    digits = f"{abs(v):.15f}".replace(".", "").lstrip("0")[:DIGITS]
    renderings = [repr(v), f"{v:.10f}", f"{v:.8f}", f"tensor([{v:.12f}])", "class B" + digits]
    renderings.append(array.tobytes()[:32].hex())
    notebook = graded.workspace / "autograded" / "leak_outputs" / ASSIGNMENT / NOTEBOOK
    page = next(p for p in graded.pages if "leak_outputs" in p.parts)
    for path in (notebook, page):
        clean = path.read_bytes()
        assert probe_inputs.found_in(clean) == []
        for planted in renderings:
            dirty = clean.replace(b"channel-stdout", b"channel-stdout " + planted.encode(), 1)
            assert dirty != clean and probe_inputs.found_in(dirty), f"{path.name}: {planted}"
        assert probe_inputs.found_in(clean + array.tobytes()[:16])  # the raw bytes
