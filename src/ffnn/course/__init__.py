"""ffnn.course: the teacher kit of the course (release student versions, grade submissions).

    ffnn course release course/ student/                 the student versions of the lessons
    ffnn course grade --source course/ --submissions inbox/ --out grades.csv --jobs 2

The notebooks use nbgrader's markers, so the same files work with nbgrader:

    def dense_forward(X, W, b):
        ### BEGIN SOLUTION
        return X @ W + b
        ### END SOLUTION

``release`` replaces each region with ``# YOUR CODE HERE`` / ``raise NotImplementedError()``
(``<!-- BEGIN SOLUTION -->``...``<!-- END SOLUTION -->`` in Markdown with "YOUR ANSWER HERE")
and clears the outputs.  ``grade`` runs every submission in its own process, kernel and
temporary folder, with a time limit, and checks the lesson's exercises with
``ffnn.exercises.check``: see ``ffnn.course.grading``.

Modules: ``releasing`` (student versions, exercise names of a lesson), ``grading`` (finding and
grading the submissions, CSV and feedback), ``runner`` (the child process that runs one
submission; ``python -m ffnn.course _run-one``).
"""

from __future__ import annotations

from .grading import (
    Graded,
    Lesson,
    Submission,
    feedback_markdown,
    find_lessons,
    find_submissions,
    grade,
    summary_table,
    write_csv,
)
from .releasing import (
    CODE_STUB,
    TEXT_STUB,
    CourseError,
    MarkerError,
    lesson_exercises,
    release,
    release_notebook,
)

__all__ = [
    "CODE_STUB", "TEXT_STUB", "CourseError", "Graded", "Lesson", "MarkerError", "Submission",
    "feedback_markdown", "find_lessons", "find_submissions", "grade", "lesson_exercises",
    "release", "release_notebook", "summary_table", "write_csv",
]
