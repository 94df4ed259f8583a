"""The course kit: minigan as graded reimplementation assignments, offline, on a CPU.

The reference source marks each assignable piece (an op's forward and backward, an optimizer's
update, a GAN loss, the backward pass) as a *solution region* with a task id::

    ### BEGIN SOLUTION relu
    return backend.array_module(x).maximum(x, 0)
    ### END SOLUTION

and the tests of task ``relu`` carry the pytest mark ``op_relu``. Three commands
(``python -m minigan.course --help``):

- ``list``: the tasks, where they are, and how many tests grade each;
- ``make-assignment --ops relu,conv2d --out DIR``: a student's copy with those regions replaced
  by ``raise NotImplementedError(...)`` (checked to hold no trace of the solution);
- ``grade DIR [--json results.json]``: run each task's tests against the copy, with time limits,
  and print (or write, in Gradescope's format) a score per task.

See docs/course.md for the instructor's workflow.
"""
from .assignment import Assignment, LeakError, check_copy, make_assignment, scan
from .grader import GradeReport, collect, grade
from .markers import MarkerError, find_regions, strip_regions
from .tasks import TASKS, Task

__all__ = ["Assignment", "GradeReport", "LeakError", "MarkerError", "TASKS", "Task", "check_copy", "collect",
           "find_regions", "grade", "make_assignment", "scan", "strip_regions"]
