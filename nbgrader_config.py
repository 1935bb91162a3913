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
c.Exchange.course_id = "cs502-transformers"

# A student's cell may run at most this long when autograding; an infinite loop
# then costs that part only.
c.ExecutePreprocessor.timeout = 120
c.ExecutePreprocessor.interrupt_on_timeout = True

c.ClearSolutions.code_stub = {
    "python": "# YOUR CODE HERE\nraise NotImplementedError()",
}
