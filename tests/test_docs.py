"""The reading guide in docs/: its worked example runs and agrees, and every file and name it
mentions exists, so the guide cannot drift away from the code unnoticed.

What counts as a mention (inline code spans only; fenced code blocks are examples, not
references), as docs/README.md explains:

- ``minigan/x.py`` (also ``docs/``, ``tests/``, ``examples/``, ``bench/``): the file exists;
- ``minigan/x.py::Name`` or ``::Class.method``: the name is defined in that very file;
- ``minigan.name()``, ``F.name()``, ``nn.Name``: the public name resolves by import;
- ``name()`` and ``obj.method()``: a function, class or method of that name is defined in
  minigan (single letters such as ``D(x)`` are mathematics and are skipped, and so are
  ``np.``/``xp.``/``torch.`` calls and Python builtins);
- ``CamelCase`` and ``CamelCase.attribute``: a minigan class (with that attribute).
"""
import ast
import builtins
import importlib
import inspect
import io
import pkgutil
import re
import runpy
from contextlib import redirect_stdout
from pathlib import Path

import pytest

import minigan

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PAGES = sorted(DOCS.glob("*.md"))
PATH = re.compile(r"^((?:minigan|docs|tests|examples|bench)/[\w/.-]+\.(?:py|md))(?:::([\w.]+))?$")
CALL = re.compile(r"^([A-Za-z_][\w.]*)\((.*)\)$")
CLASS = re.compile(r"^([A-Z][A-Za-z0-9]*[a-z][A-Za-z0-9]*)(?:\.(\w+))?$")
ALIASES = {"minigan": "minigan", "F": "minigan.functional", "nn": "minigan.nn", "optim": "minigan.optim",
           "viz": "minigan.viz", "autograd": "minigan.autograd", "gan": "minigan.gan"}
FOREIGN = {"np", "numpy", "xp", "cupy", "torch", "math", "os", "sys"}


def code_spans(text: str) -> list:
    """The inline code spans of a Markdown text, outside fenced code blocks."""
    text = re.sub(r"^```.*?^```", "", text, flags=re.S | re.M)
    return re.findall(r"`([^`\n]+)`", text)


def links(text: str) -> list:
    """Relative link targets of a Markdown text, without #anchors."""
    return [t.split("#")[0] for t in re.findall(r"\]\(([^)\s]+)\)", text)
            if "://" not in t and not t.startswith(("#", "mailto:"))]


UNIMPORTABLE = []  # (module, error): modules an optional dependency keeps out of the index


def _minigan_modules() -> list:
    modules = [minigan]
    for info in pkgutil.walk_packages(minigan.__path__, "minigan."):
        try:
            modules.append(importlib.import_module(info.name))
        except ImportError as err:
            UNIMPORTABLE.append((info.name, err))
    return modules


def _index():
    """(module-level functions and classes by name, classes by name, every class member name)."""
    defined, classes, members = {}, {}, set()
    for module in _minigan_modules():
        for name, obj in vars(module).items():
            if (inspect.isfunction(obj) or inspect.isclass(obj)) and obj.__module__ == module.__name__:
                defined.setdefault(name, []).append(obj)
                if inspect.isclass(obj):
                    classes.setdefault(name, []).append(obj)
                    members.update(vars(obj))
    return defined, classes, members


DEFINED, CLASSES, MEMBERS = _index()


def _has_attribute(cls, attr: str) -> bool:
    """A class attribute, or an attribute its methods assign (``self.attr = ...``)."""
    if hasattr(cls, attr):
        return True
    return any(re.search(rf"\bself\.{attr}\b", inspect.getsource(c)) for c in cls.__mro__
               if c.__module__.startswith("minigan"))


def _resolve(dotted: str):
    """Import ``minigan.a.b`` (or an alias) as far as it goes, then getattr the rest."""
    parts = dotted.split(".")
    module_name = ALIASES[parts[0]]
    obj = importlib.import_module(module_name)
    for part in parts[1:]:
        try:
            obj = getattr(obj, part)
        except AttributeError:
            obj = importlib.import_module(f"{obj.__name__}.{part}")  # an unimported submodule
    return obj


def _names_defined(body) -> dict:
    """Top-level names of a module or class body: defs, classes and assignments -> node."""
    names = {}
    for node in body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names[node.name] = node
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            for target in node.targets if isinstance(node, ast.Assign) else [node.target]:
                for leaf in ast.walk(target):
                    if isinstance(leaf, ast.Name):
                        names[leaf.id] = node
    return names


def _assigns_self(cls: ast.ClassDef, attr: str) -> bool:
    """True if a method of ``cls`` assigns ``self.attr``."""
    return any(isinstance(n, ast.Attribute) and n.attr == attr and isinstance(n.value, ast.Name)
               and n.value.id == "self" and isinstance(n.ctx, ast.Store) for n in ast.walk(cls))


def _check_path(path: str, name) -> str:
    """The file exists and, for ``path::name``, defines ``name`` (or ``Class.attribute``) itself."""
    file = ROOT / path
    if not file.is_file():
        return f"no file {path}"
    if name is None:
        return ""
    head, *rest = name.split(".")
    node = _names_defined(ast.parse(file.read_text(encoding="utf-8")).body).get(head)
    if node is None:
        return f"{head} is not defined in {path}"
    for attr in rest:
        if not isinstance(node, ast.ClassDef):
            return f"{name}: not a class before .{attr} in {path}"
        inner = _names_defined(node.body).get(attr)
        if inner is None and not _assigns_self(node, attr):
            return f"{name}: {node.name} has no {attr} in {path}"
        node = inner
    return ""


def _check_call(dotted: str) -> str:
    first, *rest = dotted.split(".")
    if first in FOREIGN or len(dotted) == 1 or (not rest and hasattr(builtins, first) and first not in DEFINED):
        return ""
    if first in ALIASES:
        try:
            _resolve(dotted)
            return ""
        except (AttributeError, ImportError):
            return f"{dotted} does not resolve"
    if not rest:
        return "" if first in DEFINED or first in MEMBERS else f"{first}() is defined nowhere in minigan"
    if first in CLASSES:
        return "" if any(_has_attribute(c, rest[-1]) for c in CLASSES[first]) else f"{dotted}: no such method"
    return "" if rest[-1] in MEMBERS or rest[-1] in DEFINED else f"{dotted}: no method {rest[-1]} in minigan"


def check_span(span: str) -> str:
    """'' if the span is fine (or not a reference), else what is wrong."""
    span = span.strip()
    if m := PATH.match(span):
        return _check_path(m.group(1), m.group(2))
    if m := CALL.match(span):
        return _check_call(m.group(1))
    if re.match(r"^(minigan|F|nn|optim|viz)\.[\w.]+$", span):
        return _check_call(span)
    if (m := CLASS.match(span)) and not hasattr(builtins, m.group(1)):
        classes = CLASSES.get(m.group(1))
        if not classes:
            return f"no class {m.group(1)} in minigan"
        if m.group(2) and not any(_has_attribute(c, m.group(2)) for c in classes):
            return f"class {m.group(1)} has no attribute {m.group(2)}"
    return ""


def test_the_guide_exists_with_an_index_and_its_pages():
    assert (DOCS / "README.md").is_file()
    assert len(PAGES) >= 12, [p.name for p in PAGES]


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_every_file_and_name_the_guide_mentions_exists(page):
    text = page.read_text(encoding="utf-8")
    problems = [f"`{span}`: {why}" for span in code_spans(text) if (why := check_span(span))]
    problems += [f"link {target}: no such file" for target in links(text) if not (page.parent / target).exists()]
    if problems and UNIMPORTABLE:
        problems.append(f"(not indexed, failed to import: {UNIMPORTABLE})")
    assert not problems, f"{page.name}:\n" + "\n".join(problems)


def test_every_page_is_linked_from_the_index():
    index = (DOCS / "README.md").read_text(encoding="utf-8")
    missing = [p.name for p in PAGES if p.name != "README.md" and f"({p.name})" not in index]
    assert not missing


@pytest.mark.parametrize("span, problem", [
    ("minigan/nowhere.py", "no file"),
    ("minigan/autograd.py::NoSuchThing", "not defined"),
    ("minigan/autograd.py::Tensor", "not defined"),          # imported there, defined in tensor.py
    ("minigan/autograd.py::Function.no_such_method", "has no"),
    ("minigan/autograd.py::Function.needs_input_grad.x", "not a class"),
    ("docs/worked_example.py::no_such_step", "not defined"),
    ("no_such_function()", "defined nowhere"),
    ("minigan.no_such_name()", "does not resolve"),
    ("F.no_such_op(x)", "does not resolve"),
    ("NoSuchClass", "no class"),
    ("Tensor.no_such_attribute", "no attribute"),
    ("Function.no_such_method()", "no such method"),
])
def test_the_checker_catches_what_does_not_exist(span, problem):
    assert problem in check_span(span)


@pytest.mark.parametrize("span", [
    "minigan/functional/conv.py::Conv2d.backward", "minigan/autograd.py::_run_backward",
    "minigan/nn/__init__.py", "minigan/tensor.py::DEFAULT_DTYPE", "minigan/autograd.py::Function.parents",
    "docs/worked_example.py::walk_backward", "minigan.grad()", "F.conv2d(x, w)", "sum_to(gy, shape)",
    "Function.parents", "Function.backward()", "D(G(z))", "np.tanh(x)", "len(x)", "RuntimeError",
])
def test_the_checker_accepts_what_exists_and_what_is_not_a_reference(span):
    assert check_span(span) == ""


def test_code_spans_skip_fenced_blocks():
    text = "see `a()`\n```python\nx = `b()`\n```\nand `c()`"
    assert code_spans(text) == ["a()", "c()"]


def test_the_worked_example_runs_and_reports_agreement():
    out = io.StringIO()
    with redirect_stdout(out):
        runpy.run_path(str(DOCS / "worked_example.py"), run_name="__main__")  # SystemExit if they disagree
    text = out.getvalue()
    assert "RESULT: all gradients agree" in text
    assert "gradcheck (finite differences): passed" in text
    assert "(the sum of 2 arrivals)" in text  # the logits feed two ops: accumulation is shown
    for name in ("w1", "b1", "w2", "b2"):
        assert f"leaf {name} " in text


def test_the_worked_example_would_report_a_wrong_gradient():
    """The comparison can fail: break the NumPy chain rule and the script says so."""
    example = runpy.run_path(str(DOCS / "worked_example.py"))  # not __main__: nothing runs
    by_hand = example["by_hand_numpy"]

    def wrong(*args):
        grads = by_hand(*args)
        grads["b1"] = grads["b1"] * 1.01
        return grads

    example["main"].__globals__["by_hand_numpy"] = wrong
    out = io.StringIO()
    with redirect_stdout(out):
        assert example["main"]() is False
    assert "RESULT: gradients DISAGREE" in out.getvalue()


def test_the_graph_printed_in_step_2_is_what_viz_prints():
    from minigan import functional as F
    from minigan import nn, viz
    page = (DOCS / "02_graph_and_backward.md").read_text(encoding="utf-8")
    shown = re.search(r"```\n(Mul \(\) float32\n.*?)```", page, flags=re.S).group(1)
    model = nn.Sequential(nn.Linear(2, 3), nn.Tanh(), nn.Linear(3, 1))
    loss = F.binary_cross_entropy_with_logits(model(minigan.randn(4, 2)), minigan.ones(4, 1))
    assert viz.graph_text(loss, names=model) == shown
