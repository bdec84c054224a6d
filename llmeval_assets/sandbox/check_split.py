"""Turn a `def check(candidate): assert ...` test module (HumanEval's format, used by others too) into one TestCase
per assertion, so outcomes say which assertion failed and later ones still run."""

from __future__ import annotations

import ast

from llmeval_assets.sandbox.types import TestCase

# Statements that mean something different (or nothing) outside a function body.
_FUNCTION_ONLY = (ast.Return, ast.Yield, ast.YieldFrom, ast.Await, ast.Nonlocal, ast.Global)


def split_check_function(test_source: str, entry_point: str, check_name: str = "check") -> tuple[TestCase, ...]:
    """TestCases equivalent to running `test_source` and then `check_name(entry_point)`.

    Each top-level statement of the check function that contains an `assert` becomes one test, named
    `check[1]`, `check[2]`, ... Other statements (assignments, imports) run as part of the next test, so their
    effects are there for every later test; the module's other top-level code and `candidate = entry_point`
    run in the first. When the function cannot be split faithfully (no such function, parameters other than one,
    `return`/`yield`/`global` in its body, or no assert at top level) the result is one test calling it.
    """
    whole = (TestCase(name=check_name, source=f"{test_source}\n{check_name}({entry_point})\n"),)
    try:
        module = ast.parse(test_source)
    except SyntaxError:
        return whole  # the test fails in the sandbox with the SyntaxError, like the unsplit program would
    checks = [node for node in module.body if isinstance(node, ast.FunctionDef) and node.name == check_name]
    if len(checks) != 1 or not _splittable(checks[0]):
        return whole
    check = checks[0]
    prelude = [ast.unparse(node) for node in module.body if node is not check]
    prelude.append(f"{check.args.args[0].arg} = {entry_point}")

    tests: list[TestCase] = []
    pending = prelude
    for statement in check.body:
        pending.append(ast.unparse(statement))
        if _contains_assert(statement):
            tests.append(TestCase(name=f"{check_name}[{len(tests) + 1}]", source="\n".join(pending)))
            pending = []
    if pending:  # statements after the last assert still run, as part of it
        last = tests[-1]
        tests[-1] = TestCase(name=last.name, source="\n".join([last.source, *pending]))
    return tuple(tests)


def _splittable(check: ast.FunctionDef) -> bool:
    arguments = check.args
    if len(arguments.args) != 1 or arguments.vararg or arguments.kwarg or arguments.kwonlyargs or arguments.posonlyargs:
        return False
    if check.decorator_list:
        return False
    body_nodes = [node for statement in check.body for node in _walk_own_scope(statement)]
    return not any(isinstance(node, _FUNCTION_ONLY) for node in body_nodes) and any(
        isinstance(node, ast.Assert) for node in body_nodes
    )


def _contains_assert(statement: ast.stmt) -> bool:
    return any(isinstance(node, ast.Assert) for node in _walk_own_scope(statement))


def _walk_own_scope(node: ast.AST):
    """Like ast.walk, without entering nested functions, lambdas or classes (their own scopes)."""
    yield node
    for child in ast.iter_child_nodes(node):
        if not isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
            yield from _walk_own_scope(child)
