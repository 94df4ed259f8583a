"""Planted bugs and correct-but-unusual solutions for nine course tasks, and the full run.

Each :class:`Plant` rewrites the student's code of one region (between the handout's
``### BEGIN YOUR CODE <task>`` / ``### END YOUR CODE`` lines) of a solved copy of the
assignment: a *correct* plant is a solution written differently from the reference (it must
score full marks), a *bug* one a mistake students make (it must lose points on its own task,
in the parts it names, and nowhere else). tests/test_course_planted.py runs a quick subset in
CI; the full run, with the default grading settings, is

    python tests/course_planted.py [--all-tasks] [--jobs 2]

It grades the blank copy (0 on every task), the unusual-but-correct copy (full marks on every
task; the time of this whole nine-task grade is reported), every bug on its own task (and, with
--all-tasks, on all nine: the other eight keep full marks), and the forged results (with the
screen, and without it: --no-screen's defences).
"""
from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import textwrap
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from minigan.course import grade, make_assignment, markers  # noqa: E402

NINE = ["relu", "sigmoid", "matmul", "conv2d", "batch_norm", "binary_cross_entropy", "adam",
        "non_saturating_loss", "backprop"]
_ACT, _LIN, _CONV = "minigan/functional/activation.py", "minigan/functional/linalg.py", "minigan/functional/conv.py"
_NORM, _LOSS, _OPT = "minigan/functional/norm.py", "minigan/functional/loss.py", "minigan/optim.py"
_GAN, _AUTO = "minigan/gan/losses.py", "minigan/autograd.py"


SOME = "some"  # in Plant.parts: some of the part's tests fail, not all


@dataclass(frozen=True)
class Plant:
    task: str
    name: str
    correct: bool
    path: str
    region: int  # which of the task's regions in the file (0: the first)
    body: str  # the new code, without indentation (the region's own is added)
    parts: dict = field(default_factory=dict)  # part -> the fraction of its tests that pass (bugs), or SOME
    slow: bool = False  # an endless loop: waits for the time limits

    def apply(self, copy: Path) -> None:
        """Replace the region's code in the solved ``copy``."""
        target = copy / self.path
        text = target.read_text(encoding="utf-8")
        found, errors = markers.student_regions(text)
        assert not errors, errors
        code = found[self.task][self.region]
        lines = text.splitlines(keepends=True)
        body = textwrap.indent(textwrap.dedent(self.body).strip("\n") + "\n", code.indent)
        first, last = code.begin, code.begin + len(code.lines)  # the lines between the markers
        target.write_text("".join(lines[:first] + [body] + lines[last:]), encoding="utf-8")


def _p(task, name, correct, path, region, body, parts=None, slow=False):
    return Plant(task, name, correct, path, region, body, parts or {}, slow)


PLANTS = [
    # -- relu ----------------------------------------------------------------------------------------
    _p("relu", "forward as x * (x > 0)", True, _ACT, 0, "return x * (x > 0)"),
    _p("relu", "backward mask as a float array", True, _ACT, 1,
       "return gy * Tensor((self.saved_output().array > 0).astype(gy.dtype))"),
    _p("relu", "backward passes gy through", False, _ACT, 1, "return gy", {"forward": 1, "backward": 0}),
    _p("relu", "backward mask y >= 0 (1 at the kink and below)", False, _ACT, 1,
       "return gy * Tensor(self.saved_output().array >= 0)", {"forward": 1, "backward": 0}),
    _p("relu", "forward is min(x, 0)", False, _ACT, 0, "return backend.array_module(x).minimum(x, 0)",
       {"forward": 0}),
    # -- sigmoid -------------------------------------------------------------------------------------
    _p("sigmoid", "forward as (1 + tanh(x / 2)) / 2", True, _ACT, 0,
       "xp = backend.array_module(x)\nreturn (1 + xp.tanh(x / 2)) / 2"),
    _p("sigmoid", "backward as gy * (y - y^2)", True, _ACT, 1, "y = self.saved_output()\nreturn gy * (y - y * y)"),
    _p("sigmoid", "backward forgets (1 - y)", False, _ACT, 1, "y = self.saved_output()\nreturn gy * y",
       {"forward": 1, "backward": 0}),
    _p("sigmoid", "backward on arrays (no second derivative)", False, _ACT, 1,
       "y = self.saved_output().array\nreturn Tensor(gy.array * y * (1 - y))",
       {"forward": 1, "backward": 1, "second_order": 0}),
    _p("sigmoid", "forward overflows: 1 / (1 + exp(-x))", False, _ACT, 0,
       "xp = backend.array_module(x)\nreturn 1 / (1 + xp.exp(-x))", {"forward": SOME}),
    _p("sigmoid", "an endless loop", False, _ACT, 0, "while True:\n    pass", {"forward": 0, "backward": 0},
       slow=True),
    _p("sigmoid", "an endless loop that swallows the time-out", False, _ACT, 0,
       "while True:\n    try:\n        while True:\n            pass\n    except BaseException:\n        pass",
       {"forward": 0, "backward": 0}, slow=True),
    # -- matmul --------------------------------------------------------------------------------------
    _p("matmul", "forward with einsum", True, _LIN, 0,
       'return backend.array_module(a).einsum("...ij,...jk->...ik", a, b)'),
    _p("matmul", "backward with @ and transpose, both gradients always", True, _LIN, 1,
       "a, b = self.saved_input(0), self.saved_input(1)\n"
       "return sum_to(gy @ transpose(b, -1, -2), a.shape), sum_to(transpose(a, -1, -2) @ gy, b.shape)"),
    _p("matmul", "backward forgets sum_to (broadcast batches)", False, _LIN, 1,
       "a, b = self.saved_input(0), self.saved_input(1)\nreturn matmul(gy, _mT(b)), matmul(_mT(a), gy)",
       {"forward": 1, "backward": SOME}),
    _p("matmul", "backward on arrays (no second derivative)", False, _LIN, 1,
       "a, b = self.saved_input(0).array, self.saved_input(1).array\nxp = backend.array_module(a)\n"
       "ga = Tensor(gy.array @ xp.swapaxes(b, -1, -2))\ngb = Tensor(xp.swapaxes(a, -1, -2) @ gy.array)\n"
       "return sum_to(ga, a.shape), sum_to(gb, b.shape)", {"forward": 1, "backward": 1, "second_order": 0}),
    _p("matmul", "forward computes b @ a", False, _LIN, 0,
       "xp = backend.array_module(a)\nreturn xp.swapaxes(xp.matmul(xp.swapaxes(b, -1, -2), xp.swapaxes(a, -1, -2)) "
       "* 1.0001, -1, -2)", {"forward": 0}),
    # -- conv2d --------------------------------------------------------------------------------------
    _p("conv2d", "forward without the reused buffer, matmul by name", True, _CONV, 0, """
        xp = backend.array_module(x)
        o, kh, kw = weight.shape[0], weight.shape[2], weight.shape[3]
        cols = im2col(x, (kh, kw), self.stride, self.padding, self.dilation)
        ho = conv_output_size(x.shape[2], kh, self.stride[0], self.padding[0], self.dilation[0])
        wo = conv_output_size(x.shape[3], kw, self.stride[1], self.padding[1], self.dilation[1])
        y = xp.matmul(weight.reshape(o, -1), cols).reshape(o, ho, wo, x.shape[0])
        return xp.ascontiguousarray(y.transpose(3, 0, 1, 2))"""),
    _p("conv2d", "backward computes both gradients always", True, _CONV, 1, """
        x, weight = self.saved_input(0), self.saved_input(1)
        params = (self.stride, self.padding, self.dilation)
        extra = _missing_rows(x.shape[2:], gy.shape[2:], weight.shape[2:], *params)
        return ConvTranspose2d(*params, extra)(gy, weight), Conv2dGradW(*params, weight.shape[2:])(x, gy)"""),
    _p("conv2d", "backward without output_padding (strided shapes)", False, _CONV, 1, """
        x, weight = self.saved_input(0), self.saved_input(1)
        params = (self.stride, self.padding, self.dilation)
        return ConvTranspose2d(*params, (0, 0))(gy, weight), Conv2dGradW(*params, weight.shape[2:])(x, gy)""",
       {"forward": 1, "backward": SOME}),
    _p("conv2d", "forward swaps the output's height and width", False, _CONV, 0, """
        n, o, kernel = x.shape[0], weight.shape[0], weight.shape[2:]
        ho, wo = (conv_output_size(x.shape[2 + i], kernel[i], self.stride[i], self.padding[i],
                                   self.dilation[i]) for i in range(2))
        y = weight.reshape(o, -1) @ im2col(x, kernel, *self._params())
        return y.reshape(o, wo, ho, n).transpose(3, 0, 2, 1)""", {"forward": SOME}),
    # -- batch_norm ----------------------------------------------------------------------------------
    _p("batch_norm", "forward in plain array expressions", True, _NORM, 0, """
        xp = backend.array_module(x)
        self.mean = x.mean(axis=self.axes, keepdims=True)
        self.var = ((x - self.mean) ** 2).mean(axis=self.axes, keepdims=True)
        self.inv_std = 1 / xp.sqrt(self.var + self.eps)
        self.xhat = (x - self.mean) * self.inv_std
        return self.xhat * _per_channel(weight, x.ndim) + _per_channel(bias, x.ndim)"""),
    _p("batch_norm", "backward by the textbook formula", True, _NORM, 1, """
        w, xhat, g = self.saved_input(1).array, self.xhat, gy.array
        n = xhat.size // xhat.shape[1]
        g_bias = g.sum(axis=self.axes)
        g_weight = (g * xhat).sum(axis=self.axes)
        scale = _per_channel(w, xhat.ndim) * self.inv_std / n
        gx = scale * (n * g - _per_channel(g_bias, xhat.ndim) - xhat * _per_channel(g_weight, xhat.ndim))
        return Tensor(gx), Tensor(g_weight), Tensor(g_bias)"""),
    _p("batch_norm", "forward with the unbiased variance", False, _NORM, 0, """
        xp = backend.array_module(x)
        n = x.size // x.shape[1]
        self.mean = x.mean(axis=self.axes, keepdims=True)
        self.var = ((x - self.mean) ** 2).sum(axis=self.axes, keepdims=True) / (n - 1)
        self.inv_std = 1 / xp.sqrt(self.var + self.eps)
        self.xhat = (x - self.mean) * self.inv_std
        return self.xhat * _per_channel(weight, x.ndim) + _per_channel(bias, x.ndim)""", {"forward": 0}),
    _p("batch_norm", "backward forgets the xhat * sum(dy xhat) term", False, _NORM, 1, """
        w, xhat, g = self.saved_input(1).array, self.xhat, gy.array
        n = xhat.size // xhat.shape[1]
        g_bias = g.sum(axis=self.axes)
        g_weight = (g * xhat).sum(axis=self.axes)
        gx = _per_channel(w, xhat.ndim) * self.inv_std / n * (n * g - _per_channel(g_bias, xhat.ndim))
        return Tensor(gx), Tensor(g_weight), Tensor(g_bias)""", {"forward": 1, "backward": SOME}),
    # -- binary_cross_entropy ------------------------------------------------------------------------
    _p("binary_cross_entropy", "forward with log(1 - p) and clip", True, _LOSS, 0,
       "xp = backend.array_module(p)\n"
       "return -(t * xp.clip(xp.log(p), -100, None) + (1 - t) * xp.clip(xp.log(1 - p), -100, None))"),
    _p("binary_cross_entropy", "backward with p - p^2", True, _LOSS, 1,
       "p, t = self.saved_input(0), self.saved_input(1)\nreturn gy * ((p - t) / clip(p - p * p, 1e-12)), None"),
    _p("binary_cross_entropy", "forward without the -100 clamp", False, _LOSS, 0,
       "xp = backend.array_module(p)\nreturn -(t * xp.log(p) + (1 - t) * xp.log1p(-p))", {"forward": SOME}),
    _p("binary_cross_entropy", "backward without the 1e-12 floor", False, _LOSS, 1,
       "p, t = self.saved_input(0), self.saved_input(1)\nreturn gy * (p - t) / (p * (1.0 - p)), None",
       {"forward": 1, "backward": SOME}),
    _p("binary_cross_entropy", "backward with the sign flipped", False, _LOSS, 1,
       "p, t = self.saved_input(0), self.saved_input(1)\nreturn gy * (t - p) / clip(p * (1.0 - p), 1e-12), None",
       {"forward": 1, "backward": 0}),
    # -- adam ----------------------------------------------------------------------------------------
    _p("adam", "the paper's form: bias-corrected m_hat and v_hat", True, _OPT, 0, """
        beta1, beta2 = group["betas"]
        if not state:
            state["step"] = 0
            state["exp_avg"] = _zeros_like(p.array)
            state["exp_avg_sq"] = _zeros_like(p.array)
        g = grad + group["weight_decay"] * p.array
        state["step"] += 1
        t = state["step"]
        state["exp_avg"] *= beta1
        state["exp_avg"] += (1 - beta1) * g
        state["exp_avg_sq"] *= beta2
        state["exp_avg_sq"] += (1 - beta2) * g * g
        m_hat = state["exp_avg"] / (1 - beta1 ** t)
        v_hat = state["exp_avg_sq"] / (1 - beta2 ** t)
        p.array -= group["lr"] * m_hat / (backend.array_module(v_hat).sqrt(v_hat) + group["eps"])"""),
    _p("adam", "no bias correction", False, _OPT, 0, """
        (beta1, beta2), lr, eps, wd = group["betas"], group["lr"], group["eps"], group["weight_decay"]
        if not state:
            state.update(step=0, exp_avg=_zeros_like(p.array), exp_avg_sq=_zeros_like(p.array))
        if wd != 0:
            grad = grad + wd * p.array
        state["step"] += 1
        m, v = state["exp_avg"], state["exp_avg_sq"]
        m += (1 - beta1) * (grad - m)
        v *= beta2
        v += (1 - beta2) * grad * grad
        p.array -= lr * m / (backend.array_module(v).sqrt(v) + eps)""", {"state": 1, "update": 0}),
    _p("adam", "eps inside the square root", False, _OPT, 0, """
        (beta1, beta2), lr, eps, wd = group["betas"], group["lr"], group["eps"], group["weight_decay"]
        if not state:
            state.update(step=0, exp_avg=_zeros_like(p.array), exp_avg_sq=_zeros_like(p.array))
        if wd != 0:
            grad = grad + wd * p.array
        state["step"] += 1
        m, v, t = state["exp_avg"], state["exp_avg_sq"], state["step"]
        m += (1 - beta1) * (grad - m)
        v *= beta2
        v += (1 - beta2) * grad * grad
        v_hat = v / (1 - beta2 ** t)
        p.array -= lr / (1 - beta1 ** t) * m / backend.array_module(v).sqrt(v_hat + eps)""",
       {"state": 1, "update": SOME}),
    _p("adam", "decoupled weight decay (AdamW)", False, _OPT, 0, """
        (beta1, beta2), lr, eps, wd = group["betas"], group["lr"], group["eps"], group["weight_decay"]
        if not state:
            state.update(step=0, exp_avg=_zeros_like(p.array), exp_avg_sq=_zeros_like(p.array))
        state["step"] += 1
        m, v, t = state["exp_avg"], state["exp_avg_sq"], state["step"]
        m += (1 - beta1) * (grad - m)
        v *= beta2
        v += (1 - beta2) * grad * grad
        p.array *= 1 - lr * wd
        denom = backend.array_module(v).sqrt(v) / math.sqrt(1 - beta2 ** t) + eps
        p.array -= lr / (1 - beta1 ** t) * (m / denom)""", {"state": SOME, "update": SOME}),
    # -- non_saturating_loss -------------------------------------------------------------------------
    _p("non_saturating_loss", "as -logsigmoid", True, _GAN, 0, "return -F.logsigmoid(fake).mean()"),
    _p("non_saturating_loss", "the saturating loss instead", False, _GAN, 0, "return -F.softplus(fake).mean()",
       {"forward": 0, "backward": SOME}),
    _p("non_saturating_loss", "computed on arrays (no gradient)", False, _GAN, 0,
       "import numpy as np\nz = fake.array\n"
       "return Tensor(np.mean(np.maximum(-z, 0) + np.log1p(np.exp(-np.abs(z)))))", {"forward": 1, "backward": SOME}),
    _p("non_saturating_loss", "log(sigmoid): infinite for huge logits", False, _GAN, 0,
       "return -F.sigmoid(fake).log().mean()", {"forward": 1, "backward": SOME}),
    # -- backprop ------------------------------------------------------------------------------------
    _p("backprop", "order by counting each node's users (Kahn)", True, _AUTO, 0, """
        nodes, stack, seen = [], list(roots), set()
        while stack:  # every node reachable from the roots, once
            node = stack.pop()
            if id(node) in seen:
                continue
            if getattr(node, "released", False):
                node._saved()
            seen.add(id(node))
            nodes.append(node)
            stack.extend(p for p in _parents(node) if p is not None)
        users = {id(n): 0 for n in nodes}
        for node in nodes:
            for p in _parents(node):
                if p is not None:
                    users[id(p)] += 1
        ready, backwards = [n for n in nodes if users[id(n)] == 0], []
        while ready:
            node = ready.pop()
            backwards.append(node)
            for p in _parents(node):
                if p is not None:
                    users[id(p)] -= 1
                    if users[id(p)] == 0:
                        ready.append(p)
        return backwards[::-1]"""),
    _p("backprop", "sums with dict.get", True, _AUTO, 1, """
        for parent, gx in zip(node.parents, grads_in):
            if parent is not None and gx is not None:
                previous = grads.get(id(parent))
                grads[id(parent)] = gx if previous is None else previous + gx"""),
    _p("backprop", "breadth-first order", False, _AUTO, 0, """
        order, seen, queue = [], set(), list(roots)
        while queue:
            node = queue.pop(0)
            if id(node) in seen:
                continue
            if getattr(node, "released", False):
                node._saved()
            seen.add(id(node))
            order.append(node)
            queue.extend(p for p in _parents(node) if p is not None)
        return order[::-1]""", {"order": SOME}),
    _p("backprop", "gradients overwritten, not summed", False, _AUTO, 1, """
        for parent, gx in zip(node.parents, grads_in):
            if parent is not None and gx is not None:
                grads[id(parent)] = gx""", {"accumulation": SOME}),
    _p("backprop", "recursive depth-first order", False, _AUTO, 0, """
        order, visited = [], set()

        def visit(node):
            if id(node) in visited:
                return
            if getattr(node, "released", False):
                node._saved()
            visited.add(id(node))
            for p in _parents(node):
                if p is not None:
                    visit(p)
            order.append(node)
        for root in roots:
            visit(root)
        return order""", {"order": SOME, "accumulation": 1}),
    _p("backprop", "no retain_graph error on a freed node", False, _AUTO, 0, """
        order, visited = [], set()
        stack = [(root, False) for root in roots]
        while stack:
            node, expanded = stack.pop()
            if expanded:
                order.append(node)
                continue
            if id(node) in visited:
                continue
            visited.add(id(node))
            stack.append((node, True))
            stack.extend((p, False) for p in _parents(node) if p is not None and id(p) not in visited)
        return order""", {"order": SOME, "accumulation": 1}),
]

# Forged results: each replaces a task's code with an attempt to change the score instead of
# computing. The grader must refuse them (or they must earn nothing).
ATTACKS = [
    _p("relu", "registers a pytest hook that turns failures into passes", False, _ACT, 0, """
        import pytest
        class Forge:
            @pytest.hookimpl(hookwrapper=True)
            def pytest_runtest_makereport(self, item, call):
                outcome = yield
                outcome.get_result().outcome = "passed"
        import gc
        for o in gc.get_objects():
            if type(o).__name__ == "Config" and hasattr(o, "pluginmanager"):
                o.pluginmanager.register(Forge())
        raise NotImplementedError""", {"forward": 0, "backward": 0}),
    _p("sigmoid", "writes a passing report where the old grader read it, then exits", False, _ACT, 0, """
        import os, sys, json
        for arg in sys.argv:
            if arg.endswith(".jsonl"):
                open(arg, "a").write(json.dumps({"event": "finished"}) + "\\n")
        open("results.json", "w").write('{"score": 9, "tests": []}')
        os._exit(0)""", {"forward": 0, "backward": 0}),
    _p("matmul", "rebinds numpy.testing.assert_allclose and gradcheck without imports", False, _LIN, 0, """
        xp = backend.array_module(a)
        m = xp.testing
        m.assert_allclose = lambda *args, **kwargs: None
        return xp.zeros(a.shape[:-1] + b.shape[-1:], a.dtype)""", {"forward": 0, "backward": 0}),
    _p("backprop", "patches the test machinery through the frames", False, _AUTO, 0, """
        import sys as system
        frame = system._getframe()
        while frame is not None:
            frame.f_globals.get("np", None)
            frame = frame.f_back
        return []""", {"order": 0, "accumulation": 0}),
]


def solved_copy(out: Path, tasks=NINE) -> Path:
    """A copy of the assignment with the reference's solutions between the YOUR CODE lines."""
    return make_assignment(out, tasks, solution=True).out


def planted_copy(base: Path, out: Path, plants) -> Path:
    """``base`` (a solved copy) with the ``plants`` applied."""
    shutil.copytree(base, out)
    for plant in plants:
        plant.apply(out)
    return out


def check_plant(plant: Plant, result) -> list:
    """What is wrong with one task's result for a plant (empty: as expected)."""
    problems = []
    if plant.correct:
        if not result.full_marks:
            problems.append(f"a correct solution scored {result.score:.2f}: {result.output(limit=3)}")
        return problems
    if result.score >= result.points - 1e-9:
        problems.append("the bug was not caught (full marks)")
    fractions = result.fractions()
    for part, expected in plant.parts.items():
        got = fractions.get(part)
        wrong = got is None or (got >= 1 if expected == SOME else abs(got - expected) > 1e-9)
        if wrong:
            problems.append(f"part {part}: {got} of its tests passed, expected {expected}")
    return problems


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--all-tasks", action="store_true",
                        help="grade all nine tasks for every bug (slow), not only the bug's own task")
    parser.add_argument("--max-examples", type=int, default=25)
    parser.add_argument("--skip-slow", action="store_true", help="leave out the endless loops")
    parser.add_argument("--jobs", type=int, default=1, help="tasks graded at once (the timings are for 1)")
    args = parser.parse_args(argv)
    settings = {"max_examples": args.max_examples, "jobs": args.jobs}
    failures, rows = [], []
    with tempfile.TemporaryDirectory(prefix="course-planted-") as scratch:
        scratch = Path(scratch)
        solved = solved_copy(scratch / "solved")
        blank = make_assignment(scratch / "blank", NINE).out
        correct = planted_copy(solved, scratch / "correct", [p for p in PLANTS if p.correct])

        start = time.monotonic()
        report = grade(blank, ops=NINE, **settings)
        rows.append(("blank copy", "all", f"{report.score:.2f} / {report.max_score:g}", time.monotonic() - start))
        failures += [f"blank copy: {r.task} scored {r.score:.2f}" for r in report.results if r.score > 0]

        start = time.monotonic()
        report = grade(correct, ops=NINE, **settings)
        seconds = time.monotonic() - start
        rows.append(("unusual correct forms", "all", f"{report.score:.2f} / {report.max_score:g}", seconds))
        failures += [f"correct forms: {r.task} scored {r.score:.2f}\n{r.output(limit=3)}" for r in report.results
                     if not r.full_marks]

        runs = [(p, "bug", True) for p in PLANTS if not p.correct]
        runs += [(p, "attack", True) for p in ATTACKS] + [(p, "attack, unscreened", False) for p in ATTACKS]
        for number, (plant, kind, use_screen) in enumerate(runs):
            if plant.slow and args.skip_slow:
                continue
            copy = planted_copy(correct, scratch / f"bug-{number}", [plant])
            ops = NINE if args.all_tasks else [plant.task]
            start = time.monotonic()
            report = grade(copy, ops=ops, use_screen=use_screen, **settings)
            seconds = time.monotonic() - start
            own = report.by_task()[plant.task]
            problems = check_plant(plant, own)
            others = [r for r in report.results if r.task != plant.task and not r.full_marks]
            problems += [f"also cost {r.task} {r.points - r.score:.2f} points" for r in others]
            parts = ", ".join(f"{k} {v:.0%}" for k, v in own.fractions().items())
            rows.append((f"{kind}: {plant.name}", plant.task, f"{own.score:.2f} ({parts})", seconds))
            failures += [f"{plant.task}, {plant.name}: {p}" for p in problems]
            shutil.rmtree(copy, ignore_errors=True)
    width = max(len(r[0]) for r in rows)
    for what, task, score, seconds in rows:
        print(f"{what:<{width}}  {task:<20}  {score:<40}  {seconds:6.1f} s")
    print("\n" + ("\n".join(failures) if failures else "every bug caught on its own task, every correct form at "
                                                       "full marks, the blank copy at 0, every forgery refused"))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
