"""The instructor's package: release, check, grade, feedback and export, over nbgrader."""
