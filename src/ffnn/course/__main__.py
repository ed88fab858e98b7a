"""``python -m ffnn.course _run-one ...``: the grader's child process (see ``runner``)."""

import sys

from .runner import main

sys.exit(main())
