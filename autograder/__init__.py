"""The instructor's package: release, check, grade, feedback, export and report, over nbgrader."""

import sys

# NOTE: jsonschema imports rfc3987_syntax, if installed, only to check the "iri" string format,
# and that module compiles a grammar at import: 1 to 1.5 s in every process that imports
# nbformat (the coordinator and each grading worker). Nothing here validates that format, so the
# import is declined; a process that imported jsonschema before autograder is unaffected.
sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type]
