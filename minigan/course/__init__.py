"""The course kit: minigan as graded reimplementation assignments, offline, on a CPU.

The reference source marks each assignable piece (an op's forward and backward, an optimizer's
update, a GAN loss, the backward pass) as a *solution region* with a task id::

    ### BEGIN SOLUTION relu
    <the code of ReLU's forward>
    ### END SOLUTION

and the tests of task ``relu`` carry the pytest mark ``op_relu``. The commands
(``python -m minigan.course --help``):

- ``list``: the tasks, where they are, and how many tests grade each;
- ``make-assignment --ops relu,conv2d --out DIR [--autograder hw.zip]``: a student's copy with
  those regions replaced by ``raise NotImplementedError(...)`` between ``### BEGIN YOUR CODE``
  lines (checked to hold no trace of the solution), and Gradescope's autograder zip;
- ``grade SUBMISSION [--json results.json]``: score each task with the student's code for that
  task only and the reference for everything else, with time limits, from results the student's
  code cannot forge; run in a student's copy, it grades the copy as the autograder will.

See docs/course.md for the instructor's workflow.
"""
from .assignment import Assignment, LeakError, check_copy, make_assignment, scan
from .grader import collect, grade, planned
from .markers import MarkerError, find_regions, strip_regions
from .scoring import GradeReport
from .tasks import TASKS, Task

__all__ = ["Assignment", "GradeReport", "LeakError", "MarkerError", "TASKS", "Task", "check_copy", "collect",
           "find_regions", "grade", "make_assignment", "planned", "scan", "strip_regions"]
