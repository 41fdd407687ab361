# The course's nbgrader settings for a student's commands in this repository: `nbgrader
# validate`, JupyterLab's Validate button, `python -m coursekit.validate`. Written by
# `python -m autograder release` from autograder.config.nbgrader_config: do not edit.
c = get_config()  # noqa: F821
c.Execute.kernel_name = 'python3'
c.Execute.timeout = 300
c.ExecutePreprocessor.timeout = 300
