"""_core.pyi against the built module, parameter by parameter.

``python -m mypy.stubtest gammaext._core`` (.ci/run) checks that the stub and the module bind
the same names, but pybind11 functions carry no signature it can inspect. pybind11 writes
each function's signature as the first line of its docstring: the parameter names, and which
have defaults, are compared here.
"""

from __future__ import annotations

import ast
from importlib import resources

import pytest

from gammaext import _core


def split_top_level(text: str) -> list[str]:
    """``text`` split at the commas outside brackets and quotes."""
    parts, depth, quote, cur = [], 0, "", ""
    for ch in text:
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "\"'":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(cur.strip())
            cur = ""
            continue
        cur += ch
    return [*parts, cur.strip()] if cur.strip() else parts


def runtime_parameters(name: str) -> list[tuple[str, bool]]:
    """(name, has a default) of each parameter, from pybind11's docstring signature."""
    first = getattr(_core, name).__doc__.split("\n", 1)[0]
    assert first.startswith(f"{name}("), first
    inside = first[len(name) + 1 : first.rindex(") -> ")]
    params = []
    for part in split_top_level(inside):
        head, _, rest = part.partition(":")
        params.append((head.strip(), " = " in rest))
    return params


def stub_parameters() -> dict[str, list[tuple[str, bool]]]:
    # the package's copy (an editable install keeps the module and the stub apart)
    tree = ast.parse(resources.files("gammaext").joinpath("_core.pyi").read_text())
    out = {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            args = [*node.args.posonlyargs, *node.args.args]
            first_default = len(args) - len(node.args.defaults)
            out[node.name] = [(a.arg, i >= first_default) for i, a in enumerate(args)]
    return out


STUB = stub_parameters()


@pytest.mark.parametrize("name", _core.__all__)
def test_stub_parameters_match_the_module(name):
    assert name in STUB, f"{name} is bound but not in _core.pyi"
    assert STUB[name] == runtime_parameters(name)
