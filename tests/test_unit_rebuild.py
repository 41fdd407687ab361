"""The graded notebook is rebuilt from the release; only answer cells come from the submission.

:func:`read_submission` turns hostile text into a list of cell dicts or a clear ``Invalid``;
:func:`answers` takes the student's source of each released answer cell, by grade id and cell
type only; :func:`rebuild` puts those answers into a copy of the released notebook, with every
other cell as released, the hidden tests marked, and no outputs.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import nbformat
import pytest
from nbformat import NotebookNode

from autograder.config import REDACTED
from autograder.sandboxed.rebuild import (
    MAX_NOTEBOOK_BYTES,
    Answers,
    Invalid,
    answers,
    read_submission,
    rebuild,
)

SETUP = "import math"
STUB = "def double(x):\n    # YOUR CODE HERE\n    raise NotImplementedError()"
TEST = (
    "assert double(3) == 6\n### BEGIN HIDDEN TESTS\nassert double(-1) == -2\n### END HIDDEN TESTS"
)
PROSE = "YOUR ANSWER HERE"


def _cell(kind: str, grade_id: str, source: str, **flags: Any) -> NotebookNode:
    meta: dict[str, Any] = {"grade": False, "solution": False, "locked": False, "schema_version": 3}
    meta.update(grade_id=grade_id, **flags)
    make = nbformat.v4.new_code_cell if kind == "code" else nbformat.v4.new_markdown_cell
    return make(source, metadata={"nbgrader": meta})


def released() -> NotebookNode:
    """A released notebook: setup (locked), a code answer, its test, a written answer, prose."""
    nb = nbformat.v4.new_notebook(
        metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "py"}}
    )
    nb.cells = [
        _cell("code", "setup", SETUP, locked=True),
        _cell("code", "double_answer", STUB, solution=True),
        _cell("code", "double_test", TEST, grade=True, locked=True, points=2),
        _cell("markdown", "why_answer", PROSE, solution=True),
        nbformat.v4.new_markdown_cell("Some text of the exercise."),
    ]
    nb.cells[2].outputs = [nbformat.v4.new_output("stream", text="left over\n")]
    nb.cells[2].execution_count = 7
    nbformat.validate(nb)
    return nb


def _submitted(nb: NotebookNode) -> str:
    return nbformat.writes(nb)


def _student(**sources: str) -> NotebookNode:
    """The released notebook with some cells' sources changed, by grade id."""
    nb = released()
    for cell in nb.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id in sources:
            cell.source = sources[grade_id]
    return nb


# ---- read_submission ----------------------------------------------------------------------------


def test_a_notebook_reads_as_its_cells() -> None:
    cells = read_submission(_submitted(released()))
    assert [c["cell_type"] for c in cells] == ["code", "code", "code", "markdown", "markdown"]
    assert "".join(cells[1]["source"]) == STUB  # nbformat writes sources as lists of lines


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ('{"cells": [{"cell_type": "code", "source": ', "not valid JSON"),
        ("", "not valid JSON"),
        ("[" * 200_000 + "]" * 200_000, "not valid JSON"),  # past the parser's recursion limit
        ("[]", "the JSON is not an object"),
        ('"a string"', "the JSON is not an object"),
        ("null", "the JSON is not an object"),
        ('{"cells": []}', "only version 4 notebooks"),
        ('{"nbformat": 3, "worksheets": []}', "nbformat 3"),
        ('{"nbformat": "4", "cells": []}', "nbformat '4'"),
        ('{"nbformat": 4}', "no list of cells"),
        ('{"nbformat": 4, "cells": {"0": {}}}', "no list of cells"),
        ('{"nbformat": 4, "cells": null}', "no list of cells"),
    ],
    ids=[
        "truncated",
        "empty",
        "deep",
        "list",
        "string",
        "null",
        "no_version",
        "version_3",
        "version_as_text",
        "no_cells",
        "cells_dict",
        "cells_null",
    ],
)
def test_what_is_not_a_notebook_is_invalid_with_a_reason(text: str, why: str) -> None:
    with pytest.raises(Invalid) as raised:
        read_submission(text)
    assert why in str(raised.value), str(raised.value)
    assert len(str(raised.value)) < 300, "the reason is short enough for a report"


def test_a_notebook_over_the_size_cap_is_invalid_counted_in_bytes() -> None:
    padding = MAX_NOTEBOOK_BYTES // 2 + 10  # fewer characters than the cap, more bytes (UTF-8)
    text = json.dumps(
        {"nbformat": 4, "cells": [], "metadata": {"x": "é" * padding}}, ensure_ascii=False
    )
    assert len(text) < MAX_NOTEBOOK_BYTES < len(text.encode())
    with pytest.raises(Invalid, match="larger than 32 MB"):
        read_submission(text)


def test_cells_that_are_not_objects_are_dropped() -> None:
    good = {"cell_type": "code", "source": "x = 1", "metadata": {}}
    text = json.dumps({"nbformat": 4, "cells": [1, "cell", None, [good], good, True, {}]})
    assert read_submission(text) == [good, {}]


def test_odd_text_reads_without_an_unexpected_error() -> None:
    """A lone surrogate (``\\ud800`` in the JSON) and huge, oddly typed metadata are data."""
    cell = {
        "cell_type": "code",
        "source": "s = '\ud800'",
        "metadata": {"nbgrader": ["not", "a", "dict"], "huge": list(range(100_000))},
    }
    text = json.dumps({"nbformat": 4, "metadata": [1, 2], "cells": [cell]}, ensure_ascii=False)
    assert "\ud800" in text
    (read,) = read_submission(text)
    assert read["source"] == "s = '\ud800'"
    assert answers([read], released()).sources == {}


# ---- answers ------------------------------------------------------------------------------------


def test_answers_are_matched_by_grade_id_wherever_they_are() -> None:
    nb = _student(double_answer="def double(x):\n    return 2 * x", why_answer="Because.")
    nb.cells.reverse()  # order does not matter, only grade ids
    nb.cells.insert(0, nbformat.v4.new_code_cell("print('an extra cell')"))
    found = answers(read_submission(_submitted(nb)), released())
    assert found.sources == {
        "double_answer": "def double(x):\n    return 2 * x",
        "why_answer": "Because.",
    }
    assert found.missing == [] and found.notes == []


def test_a_source_given_as_a_list_of_lines_is_joined() -> None:
    cells: list[dict[str, Any]] = [_cell("code", "double_answer", "")]
    cells[0]["source"] = ["def double(x):\n", "    return 2 * x\n"]
    found = answers(cells, released())
    assert found.sources["double_answer"] == "def double(x):\n    return 2 * x\n"


@pytest.mark.parametrize(
    "source", [None, 42, ["def f():", 3], {"text": "x"}], ids=["null", "int", "mixed", "dict"]
)
def test_a_source_that_is_not_text_is_a_missing_answer(source: object) -> None:
    cell = dict(_cell("code", "double_answer", ""), source=source)
    found = answers([cell], released())
    assert "double_answer" in found.missing and "double_answer" not in found.sources


def test_an_answer_in_a_cell_of_the_wrong_type_is_missing() -> None:
    """A code answer turned into markdown (or a written one into code) is not used."""
    nb = released()
    nb.cells[1] = _cell("markdown", "double_answer", "def double(x):\n    return 2 * x")
    nb.cells[3] = _cell("code", "why_answer", "Because.")
    found = answers(read_submission(_submitted(nb)), released())
    assert found.sources == {}
    assert found.missing == ["double_answer", "why_answer"]


def test_missing_answers_are_named_in_release_order() -> None:
    nb = released()
    del nb.cells[1]  # the code answer deleted; the written answer kept
    found = answers(read_submission(_submitted(nb)), released())
    assert found.missing == ["double_answer"]
    assert set(found.sources) == {"why_answer"}
    assert found.notes == ["answer cells missing, scored zero: double_answer"]


def test_a_duplicated_answer_is_graded_from_its_first_cell_and_noted() -> None:
    nb = _student(double_answer="def double(x):\n    return 2 * x")
    nb.cells.append(_cell("code", "double_answer", "def double(x):\n    return 0"))
    found = answers(read_submission(_submitted(nb)), released())
    assert found.sources["double_answer"] == "def double(x):\n    return 2 * x"
    assert any("given twice" in n and "double_answer" in n for n in found.notes), found.notes


def test_only_the_release_says_which_cells_are_answers() -> None:
    """Cells with unknown ids, and test or setup cells the student marked as answers, are
    ignored: their grade ids are not answers in the release."""
    nb = released()
    nb.cells[0] = _cell("code", "setup", "import os", solution=True)
    nb.cells[2] = _cell("code", "double_test", "pass", solution=True, grade=True, points=99)
    nb.cells.append(_cell("code", "bonus_answer", "print('extra')", solution=True))
    nb.cells.append(_cell("code", "", "x = 1", solution=True))
    found = answers(read_submission(_submitted(nb)), released())
    assert found.sources == {"double_answer": STUB, "why_answer": PROSE}


@pytest.mark.parametrize(
    "metadata",
    [
        {"nbgrader": "double_answer"},
        {"nbgrader": {"grade_id": ["double_answer"]}},
        {"nbgrader": {"grade_id": 7}},
        ["nbgrader"],
        None,
    ],
    ids=["nbgrader_text", "id_list", "id_int", "metadata_list", "metadata_null"],
)
def test_odd_metadata_is_no_answer_and_no_error(metadata: object) -> None:
    cell = {"cell_type": "code", "source": "def double(x):\n    return 2 * x", "metadata": metadata}
    found = answers([cell], released())
    assert found.sources == {} and found.missing == ["double_answer", "why_answer"]


# ---- rebuild ------------------------------------------------------------------------------------


def test_the_rebuilt_notebook_is_the_release_with_the_answers_in_place() -> None:
    release = released()
    before = copy.deepcopy(release)
    given = Answers({"double_answer": "def double(x):\n    return 2 * x", "why_answer": "Since."})
    nb = rebuild(release, given)
    nbformat.validate(nb)
    assert release == before, "the released notebook itself is left as it was"
    assert [c.source for c in nb.cells] == [
        SETUP,
        "def double(x):\n    return 2 * x",
        TEST,
        "Since.",
        "Some text of the exercise.",
    ]
    assert [c.metadata for c in nb.cells] == [c.metadata for c in release.cells]
    assert nb.metadata == release.metadata


def test_locked_cells_and_kernelspec_come_from_the_release_whatever_was_submitted() -> None:
    nb = _student(setup="import os; os.system('rm -rf /')", double_test="pass")
    nb.metadata.kernelspec = {"name": "evil", "display_name": "Evil", "language": "python"}
    nb.cells[2].metadata.nbgrader["points"] = 100
    nb.cells.append(nbformat.v4.new_code_cell("print('extra')"))
    given = answers(read_submission(_submitted(nb)), released())
    rebuilt = rebuild(released(), given)
    assert rebuilt.metadata.kernelspec.name == "python3"
    assert [c.source for c in rebuilt.cells][0::2] == [SETUP, TEST, "Some text of the exercise."]
    assert rebuilt.cells[2].metadata.nbgrader.points == 2
    assert len(rebuilt.cells) == len(released().cells)


def test_a_missing_answer_keeps_the_released_stub() -> None:
    nb = rebuild(released(), Answers({"why_answer": "Since."}))
    assert nb.cells[1].source == STUB


def test_outputs_are_cleared_in_code_cells_only() -> None:
    nb = rebuild(released(), Answers({}))
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None
        else:
            assert "outputs" not in cell and "execution_count" not in cell
    nbformat.validate(nb)


def test_hidden_test_cells_end_with_the_redacted_mark() -> None:
    nb = rebuild(released(), Answers({}), hidden=frozenset({"double_test", "no_such_cell"}))
    assert nb.cells[2].source == TEST + "\n" + REDACTED
    assert [c.source for c in nb.cells if c.source.endswith(REDACTED)] == [nb.cells[2].source]


def test_hidden_marking_never_touches_an_answer() -> None:
    given = Answers({"double_answer": "def double(x):\n    return 2 * x\n\n"})
    nb = rebuild(released(), given, hidden=frozenset({"double_answer"}))
    assert nb.cells[1].source == "def double(x):\n    return 2 * x\n\n"


def test_tests_replace_the_test_sources_and_the_hidden_mark() -> None:
    whole = "assert double(3) == 6\nassert double(-1) == -2"
    given = Answers({"double_answer": "def double(x):\n    return 2 * x"})
    tests = {"double_test": whole, "setup": "import math, cmath", "double_answer": "pass"}
    nb = rebuild(released(), given, hidden=frozenset({"double_test"}), tests=tests)
    assert nb.cells[2].source == whole, "the whole tests, without the hidden mark"
    assert nb.cells[0].source == "import math, cmath"
    assert nb.cells[1].source == "def double(x):\n    return 2 * x", "an answer wins over tests"
