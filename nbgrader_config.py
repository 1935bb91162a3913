"""nbgrader configuration of the course (read from the repository root).

Source assignments live in solutions/, the student release in exercises/; the
gradebook, the exchange and the submitted/autograded/feedback folders all stay
inside the repository (and are git-ignored, except exercises/).
"""

import os

c = get_config()  # noqa: F821 - provided by nbgrader when it loads this file

_root = os.path.dirname(os.path.abspath(__file__))

c.CourseDirectory.course_id = "cs502-transformers"
c.CourseDirectory.root = _root
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "exercises"
c.CourseDirectory.submitted_directory = "submitted"
c.CourseDirectory.autograded_directory = "autograded"
c.CourseDirectory.feedback_directory = "feedback"
c.CourseDirectory.db_url = "sqlite:///" + os.path.join(_root, "gradebook.db")
c.Exchange.root = os.path.join(_root, "nbgrader_exchange")

# A student's cell may run at most this long when autograding (nbgrader's Execute
# preprocessor); the kernel is then interrupted and grading goes on, so an infinite
# loop costs that part only. (The checks also stop student code after 10 s.)
c.Execute.timeout = 60
c.Execute.interrupt_on_timeout = True
c.ExecutePreprocessor.timeout = 60
c.ExecutePreprocessor.interrupt_on_timeout = True

# Feedback never shows hidden tests: their code becomes a placeholder and every error
# shows its message only (the GradingError's "what failed and why"), never a traceback.
c.GenerateFeedback.preprocessors = [
    "nbgrader.preprocessors.GetGrades",
    "cs502_lib.course.SanitizeFeedback",
    "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
]

# Locked cells are restored from the source before grading; cs502_lib's version does not report an
# untouched hidden-test cell as changed (nbgrader's does, for every submission).
c.Autograde.sanitize_preprocessors = [
    "nbgrader.preprocessors.ClearOutput",
    "nbgrader.preprocessors.DeduplicateIds",
    "nbgrader.preprocessors.OverwriteKernelspec",
    "cs502_lib.course.RestoreCells",
    "nbgrader.preprocessors.CheckCellMetadata",
]

c.ClearSolutions.code_stub = {
    "python": "# YOUR CODE HERE\nraise NotImplementedError()",
}

# `nbgrader validate` cuts every line at 90 characters; a check's advice is longer: wrap it instead.
try:
    from cs502_lib.feedback import wrap_validator_output

    wrap_validator_output()
except ModuleNotFoundError:  # nbgrader run without cs502_lib installed: its own output, cut
    pass
