"""The trusted side of the probes: the reference run, and each submission's verdicts.

Only the coordinator holds the expected results (the reference's records come to it from its own
kernel, or from a worker of its local pool, a process of its own): workers send back what the
student's functions returned, and :func:`judge` compares it here with the reference run's,
through the probe's own comparison (:func:`autograder.probes.verdict`). A grade cell guarded by a
probe that disagrees scores zero, and its cell in the autograded notebook (hence the feedback)
gets an error output that says which function failed, and on how many hidden cases, without
showing a hidden input. Where the student's results on a function's hidden checks agree with a
mutant's (a plausible bug the author declared, run here on the same inputs, see
:mod:`autograder.mutants`), the output also names the misconception, in the author's sentence.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from autograder import heap
from autograder.config import CourseError
from autograder.messages import GradeTask, NotebookResult, TaskResult
from autograder.mutants import NAMED, mutants_file, recognized
from autograder.mutants import load as load_mutants
from autograder.nbgrader_api import grade_id as nbgrader_grade_id
from autograder.probes import Probe, Raised, load, probes_file, verdict

Records = list[dict[str, Any]]


class ReferenceFailed(CourseError):
    """The reference solution does not pass its own probes: a course bug, so nothing is graded."""


@dataclass(frozen=True)
class Judge:
    probes: dict[str, list[Probe]]  # notebook name -> its probes
    expected: dict[str, dict[str, Records]]  # notebook name -> probe name -> reference records
    # notebook name -> its mutants, run in this process the first time a submission's results
    # for their function are wrong (most classes need few of them)
    mutants: dict[str, Any] = field(default_factory=dict)

    @staticmethod
    def prepare(
        source: Path, template: GradeTask, probe: Callable[..., Any] | None = None
    ) -> Judge:
        """Load the probes of every notebook of ``template`` and run them on the reference
        solutions in ``source`` (the assignment's source folder), each in its own sandboxed
        kernel, exactly as a submission's are run: by ``probe`` (a local pool's worker, see
        :meth:`autograder.grading.backends.Pool.reference`), or else in this process."""
        from autograder.sandboxed import probe_reference

        probe = probe or probe_reference
        probes, expected = {}, {}
        for trusted in template.trusted:
            declared = load(probes_file(source / f"{trusted.name}.ipynb"))
            probes[trusted.name] = declared
            if not declared:
                continue
            text = (source / f"{trusted.name}.ipynb").read_text()
            found = probe(template, trusted, text)
            failed = {name: why for name, why in found.items() if isinstance(why, str)}
            if failed:
                raise ReferenceFailed(_reference_failed(trusted.name, failed))
            expected[trusted.name] = {name: r for name, r in found.items() if isinstance(r, list)}
        return Judge(probes, expected, _mutants(source, probes))

    def judge(self, result: TaskResult) -> TaskResult:
        """``result`` with the probes' verdicts applied to its scores and notebooks."""
        if not result.notebooks:
            return result
        return replace(result, notebooks=tuple(self._notebook(nb) for nb in result.notebooks))

    def _notebook(self, nb: NotebookResult) -> NotebookResult:
        if nb.executed is None or not self.probes.get(nb.name):
            return nb
        failing: dict[str, list[str]] = {}
        wrong: dict[str, list[str]] = {}  # function -> the grade ids its wrong results cost
        for p in self.probes[nb.name]:
            got = nb.probes.get(p.name, "the probe did not run")
            if isinstance(got, str):
                why: str | None = f"{p.function}: the hidden checks could not run ({_why(got)})"
            else:
                why = verdict(p, got, self.expected[nb.name][p.name])
                if why:
                    wrong.setdefault(p.function, []).extend(p.grade_ids)
            if why:
                for grade_id in p.grade_ids:
                    failing.setdefault(grade_id, []).append(why)
        for function, grade_ids in wrong.items():
            if said := self._misconception(nb, function):
                for grade_id in grade_ids:
                    failing[grade_id].append(said)
        if not failing:
            return nb
        scores = dict(nb.scores)
        for grade_id in failing:
            if grade_id in scores:
                scores[grade_id] = (0.0, scores[grade_id][1])
        return replace(nb, scores=scores, executed=_mark(nb.executed, failing))

    def _misconception(self, nb: NotebookResult, function: str) -> str | None:
        """The misconception that ``nb``'s results for ``function`` agree with, in the words
        of the mutants' authors (at most :data:`NAMED`), or None. Results that only raise (a
        stub's NotImplementedError, say) are no misconception."""
        runner = self.mutants.get(nb.name)
        mine = [p for p in self.probes[nb.name] if p.function == function]
        if runner is None or not any(_returned(nb.probes.get(p.name)) for p in mine):
            return None
        known = len(runner.found)
        try:
            mutated = runner.results(function)
        except Exception:  # NOTE: naming a misconception is a courtesy: it never stops grading
            return None
        if len(runner.found) > known:  # kept as long as the judge: out of the collector's way
            heap.settle()
        named = recognized(function, mine, nb.probes, mutated, runner.mutants)
        whys = list(dict.fromkeys(m.why for m in named))[:NAMED]
        if not whys:
            return None
        return f"{function}: your results match a common mistake: " + " Or: ".join(whys)


def _returned(records: Any) -> bool:
    """Whether a probe's records hold a call that returned rather than raised."""
    return isinstance(records, list) and any(
        not isinstance(r.get("result"), Raised) for r in records
    )


def _mutants(source: Path, probes: dict[str, list[Probe]]) -> dict[str, Any]:
    """Each notebook's mutants, ready to run on the hidden inputs in this process (they are the
    author's code, as trusted as the reference); nothing runs yet. They run without the second
    device (:func:`autograder.mutants.without_meta` says why), which keeps the meta device's first
    use (a second of CPU) and its slow Python kernels out of this process."""
    from autograder.sandboxed import Mutants, code_sources

    runners = {}
    for name, declared in probes.items():
        found = load_mutants(mutants_file(source / f"{name}.ipynb"))
        if found and declared:
            _, code = code_sources(source / f"{name}.ipynb")
            plain = [replace(p, second_device=False) for p in declared]
            runners[name] = Mutants([c.source for c in code], plain, found)
    return runners


#: What a verdict line says of a probe that gave no results: the words of the first pattern its
#: reason matches (re.match). NOTE: never the reason itself, which the worker can have built of
#: text the kernel chose after it held the probes' inputs (the name of an exception that escaped
#: the runner, and a class's name can be any string; the kernel's last words on stderr).
NO_RESULTS = (
    (r".*(time limit|ran past)", "it ran past its time limit"),
    (r"the kernel (died|failed)", "the kernel died"),
    (r"the answer cells did not run", "the answer cells did not run"),
    (r"(no results were written|the probe did not run)$", "no results were written"),
    (r".*results.* too large$", "its results were too large"),
    (r".*results", "its results were not what the probe runner writes"),
    (r"", "it stopped with an error"),
)


def _reference_failed(notebook: str, failed: dict[str, str]) -> str:
    """The instructor's message for a reference solution that fails its own probes: each reason
    once (an exception with its message, a module missing from the grading environment named),
    with the probes it stopped."""
    by_reason: dict[str, list[str]] = {}
    for name, why in failed.items():
        by_reason.setdefault(why, []).append(name)
    lines = [
        f"{notebook}: the reference solution fails {len(failed)} of its probes, so nothing was"
        " graded. This is a problem of the course or of the grading environment (a module"
        " missing where the kernels run, say), not of any student:"
    ]
    for why, names in by_reason.items():
        shown = ", ".join(names[:6]) + (f" and {len(names) - 6} more" if len(names) > 6 else "")
        lines.append(f"  {why} ({shown})")
    return "\n".join(lines)


def _why(reason: str) -> str:
    """The grader's words for why a probe gave no results (see :data:`NO_RESULTS`)."""
    return next(words for pattern, words in NO_RESULTS if re.match(pattern, reason[:500]))


def _mark(executed: str, failing: dict[str, list[str]]) -> str:
    """The executed notebook with each failing grade cell showing why, as an error output."""
    data = json.loads(executed)
    for cell in data.get("cells", []):
        grade_id = nbgrader_grade_id(cell)
        if grade_id in failing and cell.get("cell_type") == "code":
            text = "; ".join(dict.fromkeys(failing[grade_id]))
            cell.setdefault("outputs", []).append(
                {
                    "output_type": "error",
                    "ename": "HiddenChecksFailed",
                    "evalue": text,
                    "traceback": [f"HiddenChecksFailed: {text}"],
                }
            )
    return json.dumps(data, ensure_ascii=False)  # compact: the recorder writes it (inert_json)
