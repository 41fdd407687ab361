"""What a probe makes inside the sandbox, declared as Python: callables, values and rules.

A callable cannot travel into the student's kernel as plain data, so what travels is source text.
The probes file writes it as Python, a lambda or a def that linters read like the rest of the
file, and the text is taken from it here (:mod:`ast`, found by the code object's positions)::

    fn(lambda t: A @ t, A=tensor(A))  # the callable itself
    built(lambda: torch.Generator().manual_seed(seed), seed=seed)  # what it returns
    rule(lambda: checked(OpRecorder(), lambda rec: not rec.backward_ops()))  # a context manager

Each name the code takes from outside must be one it has where it runs, or it is refused when
declared (:class:`DeclarationError`): a binding (data passed by keyword, encoded like any probe
input; each local it closes over must be one), a builtin, or a name of that place: ``SANDBOX``
for :func:`fn` and :func:`built` (torch, nn, F, np, device, ARGS), ``KERNEL`` for a :func:`rule`,
which runs in the notebook's namespace (checked, torch, coursekit, and the notebook's names the
probes file declares with :func:`from_notebook`). A builder's parameters are its bindings.
"""

from __future__ import annotations

import ast
import builtins
import functools
import linecache
import math
import symtable
import types
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch


class DeclarationError(ValueError):
    """Code that cannot be sent: its source is not found, or it needs a name it lacks there."""


class InSandbox:
    """The probes file's stand-in for a name only the sandbox defines, so that linters see it
    defined: code that uses it runs there, never here."""

    def __init__(self, name: str, where: str) -> None:
        self.name, self.where = name, where

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError(f"{self.name} is defined only in the {self.where}: use it in fn/rule")


#: In fn and built code: the probed call's positional arguments, as decoded so far.
ARGS: Any = InSandbox("ARGS", "probe runner")
#: In fn and built code: the device the call's tensors are on.
device: Any = InSandbox("device", "probe runner")
#: In a rule: ``checked(manager, test)`` fails the call when ``test(manager)`` is false after it.
checked: Any = InSandbox("checked", "notebook")


def from_notebook(name: str) -> Any:
    """A stand-in for ``name``, defined by the notebook, that a rule uses: ``OpRecorder =
    from_notebook("OpRecorder")`` at the top of the probes file."""
    return InSandbox(name, "notebook")


@dataclass(frozen=True)
class Names:
    """The names code finds where it runs, besides its bindings and the builtins."""

    where: str
    modules: dict[str, str]  # name -> the module it is there
    stand_ins: frozenset[str]
    notebook: bool  # the names declared with from_notebook


SANDBOX = Names(
    "probe runner",
    {"torch": "torch", "nn": "torch.nn", "F": "torch.nn.functional", "np": "numpy"},
    frozenset({"device", "ARGS"}),
    False,
)
KERNEL = Names(
    "notebook", {"torch": "torch", "coursekit": "coursekit"}, frozenset({"checked"}), True
)


@dataclass(frozen=True)
class Expr:
    """A probe argument built inside the sandbox by evaluating trusted source text: a callable, a
    generator, a model. ``bindings`` are plain data, seen by the code by name (see SANDBOX)."""

    source: str
    bindings: dict[str, Any]


def expr(source: str, **bindings: Any) -> Expr:
    """An argument made inside the sandbox from ``source``, text that is already source. Code of
    the probes file goes through :func:`fn` or :func:`built`, which take the text from it.

    Its text reaches the student's process, like every probe input: it must hold nothing secret.
    """
    _compiled(source)  # a syntax error shows up when authoring
    return Expr(source, dict(bindings))


def fn(function: Callable[..., Any], /, **bindings: Any) -> Expr:
    """``function`` itself, a lambda or a def of the probes file, remade inside the sandbox from
    its source; ``bindings`` are the data it reads by name."""
    node = _node(function)
    text = ast.unparse(node) + ("" if isinstance(node, ast.Lambda) else f"\n{node.name}")
    return Expr(_checked(function, text, bindings, SANDBOX), dict(bindings))


def built(make: Callable[..., Any], /, **bindings: Any) -> Expr:
    """What ``make()`` returns, made inside the sandbox (a model, a generator): ``make`` is a
    lambda or a def of the probes file, its parameters filled by name from ``bindings``."""
    return Expr(_checked(make, _value_text(make, bindings, SANDBOX), bindings, SANDBOX), bindings)


def generator(seed: int) -> Expr:
    """A ``torch.Generator`` seeded with ``seed``, made inside the sandbox (a generator is not
    plain data, so it cannot travel as one)."""
    return built(lambda: torch.Generator().manual_seed(seed), seed=int(seed))


@dataclass(frozen=True)
class Rule:
    """A rule of the exercise: the source of a context manager that a call runs in."""

    source: str


def rule(make: Callable[..., Any], /, **bindings: Any) -> Rule:
    """The context manager ``make()`` returns, made in the notebook's namespace: ``make`` is a
    lambda or a def of the probes file; ``bindings`` (literals: str, numbers, tuples, sets...)
    are written into the text."""
    text = _value_text(make, bindings, KERNEL)
    assigned = "".join(f"{name} = {literal(value)}\n" for name, value in bindings.items())
    return Rule(assigned + _checked(make, text, bindings, KERNEL))


def literal(value: Any) -> str:
    """``value`` as Python source: None, bools, numbers, strings, and tuples, lists, dicts and
    (frozen) sets of them; sets sorted, so that the text is the same in every run."""
    plain = value is None or type(value) in (bool, int, str)  # not a subclass: its repr
    if plain or (type(value) is float and math.isfinite(value)):
        return repr(value)
    if isinstance(value, tuple):
        items = [literal(v) for v in value]
        return "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"
    if isinstance(value, list):
        return "[" + ", ".join(literal(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{literal(k)}: {literal(v)}" for k, v in value.items()) + "}"
    if isinstance(value, set | frozenset):
        inner = "{" + ", ".join(sorted(literal(v) for v in value)) + "}" if value else ""
        return f"frozenset({inner})" if isinstance(value, frozenset) else inner or "set()"
    raise DeclarationError(f"a rule's binding must be a literal, not {type(value).__name__}")


# ---- finding the code ---------------------------------------------------------------------------


def _compiled(text: str) -> None:
    """Check that ``text`` is statements ending in an expression, as the probe runner needs."""
    tree = ast.parse(text, "<probe source>")
    if not tree.body or not isinstance(tree.body[-1], ast.Expr):
        raise DeclarationError(f"the source must end in an expression: {text!r}")
    compile(tree, "<probe source>", "exec")


@functools.lru_cache(maxsize=16)
def _by_line(filename: str, text: str) -> dict[int, list[ast.Lambda | ast.FunctionDef]]:
    """The file's lambdas and defs (``ast.AsyncFunctionDef`` left out), by first line."""
    found: dict[int, list[ast.Lambda | ast.FunctionDef]] = {}
    for node in ast.walk(ast.parse(text, filename)):
        if isinstance(node, ast.Lambda | ast.FunctionDef):
            found.setdefault(node.lineno, []).append(node)
    return found


def _label(function: Any) -> str:
    if not isinstance(function, types.FunctionType):
        return repr(function)
    code = function.__code__
    return f"{function.__qualname__} ({code.co_filename}, line {code.co_firstlineno})"


def _node(function: Any) -> ast.Lambda | ast.FunctionDef:
    """The lambda or def in its source file that ``function`` was made from."""
    if not isinstance(function, types.FunctionType):
        raise DeclarationError(f"{_label(function)}: expected a lambda or a def")
    code = function.__code__
    linecache.checkcache(code.co_filename)  # a file written again since it was read
    lines = linecache.getlines(code.co_filename, function.__globals__)
    if not lines:
        raise DeclarationError(f"{_label(function)}: no source file to take its text from")
    on_its_line = _by_line(code.co_filename, "".join(lines)).get(code.co_firstlineno, [])
    if code.co_name == "<lambda>":
        return _the_lambda(function, [n for n in on_its_line if isinstance(n, ast.Lambda)])
    found = [n for n in on_its_line if isinstance(n, ast.FunctionDef) and n.name == code.co_name]
    if len(found) != 1:
        why = "its def is not found (no decorators), or its file changed since it was loaded"
        raise DeclarationError(f"{_label(function)}: {why}")
    return found[0]


def _the_lambda(function: types.FunctionType, lambdas: list[ast.Lambda]) -> ast.Lambda:
    """The one lambda of its line, with its parameters, whose body holds every position of its
    code (a lambda's code is its body's); the innermost, where lambdas nest."""
    code = function.__code__
    spans = [
        ((line, col), (end_line, end_col))
        for line, end_line, col, end_col in code.co_positions()
        if None not in (line, end_line, col, end_col) and (line, col) != (end_line, end_col)
    ]
    fitting = [
        n
        for n in lambdas
        if _parameters(n.args) == code.co_varnames[: _arity(code)]
        and all(_span(n.body)[0] <= a and b <= _span(n.body)[1] for a, b in spans)
    ]
    if not fitting or (len(fitting) > 1 and not spans):
        why = "cannot tell which lambda of its line it is (give it a def), or its file changed"
        raise DeclarationError(f"{_label(function)}: {why}")
    return max(fitting, key=lambda n: _span(n.body)[0])  # the fitting ones nest: the innermost


def _span(node: ast.expr) -> tuple[tuple[int, int], tuple[int, int]]:
    return (node.lineno, node.col_offset), (node.end_lineno or 0, node.end_col_offset or 0)


def _parameters(args: ast.arguments) -> tuple[str, ...]:
    names = [a.arg for a in (*args.posonlyargs, *args.args, *args.kwonlyargs)]
    names += [a.arg for a in (args.vararg, args.kwarg) if a is not None]
    return tuple(names)


def _arity(code: types.CodeType) -> int:
    flags = bool(code.co_flags & 0x04) + bool(code.co_flags & 0x08)  # *args, **kwargs
    return code.co_argcount + code.co_kwonlyargcount + flags


def _value_text(make: Callable[..., Any], bindings: dict[str, Any], names: Names) -> str:
    """The text of what ``make()`` returns: a lambda's body, or a def and a call of it."""
    node = _node(make)
    parameters = _parameters(node.args)
    unfilled = [p for p in parameters if p not in bindings and p not in names.stand_ins]
    if unfilled:
        raise DeclarationError(f"{_label(make)}: no binding for its parameters {unfilled}")
    if isinstance(node, ast.Lambda):
        return ast.unparse(node.body)  # the parameters are the bindings of the same names
    arguments = ", ".join(f"{p}={p}" for p in parameters)
    return f"{ast.unparse(node)}\n{node.name}({arguments})"


# ---- the names it needs -------------------------------------------------------------------------


def _checked(function: Any, text: str, bindings: dict[str, Any], names: Names) -> str:
    """``text``, once every name the code takes from outside is one it has where it runs."""
    _compiled(text)
    label, known = _label(function), function.__globals__
    taken = sorted(set(bindings) & (set(names.modules) | names.stand_ins))
    if taken:
        raise DeclarationError(f"{label}: bindings may not take the {names.where}'s {taken}")
    closed = sorted(set(function.__code__.co_freevars) - set(bindings) - {"__class__"})
    if closed:
        where = f"locals the {names.where} does not have: pass each as a binding, name=value"
        raise DeclarationError(f"{label}: it reads {closed}, {where}")
    for name in sorted(_free_names(text) - set(bindings)):
        value = known.get(name)
        if name in names.modules:
            ok = name not in known or getattr(value, "__name__", None) == names.modules[name]
        elif name in names.stand_ins:
            ok = name not in known or isinstance(value, InSandbox)
        elif isinstance(value, InSandbox):
            ok = names.notebook and value.where == "notebook" and value.name == name
        else:
            ok = name not in known and hasattr(builtins, name)
        if not ok:
            raise DeclarationError(
                f"{label}: it uses {name!r}, which the {names.where} does not have (or has as "
                "something else): pass it as a binding, name=value, or for a rule's notebook name "
                "declare it with from_notebook"
            )
    return text


def _free_names(text: str) -> set[str]:
    """The names ``text`` reads from its globals (the names it does not define itself)."""
    top = symtable.symtable(text, "<probe source>", "exec")
    defined = {s.get_name() for s in top.get_symbols() if s.is_assigned() or s.is_imported()}
    found: set[str] = set()
    tables = [top]
    while tables:
        table = tables.pop()
        tables.extend(table.get_children())
        found |= {s.get_name() for s in table.get_symbols() if s.is_global() and s.is_referenced()}
    return found - defined - {"__class__"}
