# JupyterLab for a student of the course: run it with this folder on Jupyter's config path,
#   JUPYTER_CONFIG_PATH="$PWD/jupyter" jupyter lab exercises/01_linear_algebra/linear_algebra.ipynb
# (from the repository's root; the README's "For students" says so).
#
# nbgrader's Validate button stays. Its Assignments and Courses tabs need an nbgrader exchange
# (a shared folder, as on a JupyterHub), which a student's own machine has none of: without one,
# the Assignments tab shows "exchange directory does not exist" three times. The formgrader and
# the Create Assignment panel are the instructor's, who grades in a workspace instead
# (`python -m autograder grade`). So their server parts are off here, and their JupyterLab parts
# are off in labconfig/page_config.json (what `jupyter labextension disable` would write into
# the environment, kept in the repository instead).
c = get_config()  # noqa: F821
c.ServerApp.jpserver_extensions = {
    "nbgrader.server_extensions.assignment_list": False,
    "nbgrader.server_extensions.course_list": False,
    "nbgrader.server_extensions.formgrader": False,
    "nbgrader.server_extensions.validate_assignment": True,
}
