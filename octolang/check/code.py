"""`compute` code blocks: Python syntax, the sandbox policy, and the names they read."""

from __future__ import annotations

import ast
import functools
from dataclasses import dataclass, field

from octolang import ir
from octolang.check.expressions import not_explained
from octolang.check.returns import check_returns
from octolang.check.scope import Scope, resolve_attribute, resolve_root
from octolang.diagnostics import Diagnostic, error
from octolang.source import SourceFile, Span


@dataclass
class CodeFacts:
    steps: set[str] = field(default_factory=set)
    diagnostics: list[Diagnostic] = field(default_factory=list)


def code_span(
    text: ir.Text, source: SourceFile, lineno: int, col: int, end_lineno: int | None = None, end_col: int | None = None
) -> Span:
    """File span of a position reported by Python's parser (AST columns: UTF-8 bytes)."""
    start = _index(text, lineno, col)
    if end_lineno is None or end_col is None:
        end = start + 1
    else:
        end = _index(text, end_lineno, end_col)
    return text.span_of(source, start, max(end, start + 1))


def _index(text: ir.Text, lineno: int, col_bytes: int) -> int:
    start = text.index_of(lineno)
    end = text.value.find("\n", start)
    line = text.value[start : end if end != -1 else len(text.value)]
    prefix = line.encode("utf-8")[: max(col_bytes, 0)].decode("utf-8", errors="ignore")
    return start + len(prefix)


def check_code(step: ir.StepDecl, scope: Scope, source: SourceFile) -> CodeFacts:
    from octolang.sandbox.policy import (
        ALLOWED_BUILTINS,
        FORBIDDEN_NAMES,
        SAFE_MODULES,
        code_free_names,
        find_violations,
    )

    facts = CodeFacts()
    text = step.code
    assert text is not None
    try:
        # not the .octo path: CPython would read the offending line from that file on disk
        # (stale or another language) to place the column
        tree = ast.parse(text.value, filename=f"<code of step {step.name}>")
    except SyntaxError as exc:  # its offset counts characters, not bytes
        start = text.index_of(exc.lineno or 1, max(exc.offset or 1, 1))
        span = text.span_of(source, start, start + 1)
        facts.diagnostics.append(
            error(
                "E0606",
                f"syntax error in the code of step `{step.name}`: {exc.msg}",
                span,
                help="code blocks are Python: the body of a function that returns the step's output as a dict",
            )
        )
        return facts
    except (ValueError, RecursionError, MemoryError) as exc:  # e.g. a NUL byte, absurd nesting
        facts.diagnostics.append(error("E0606", f"the code of step `{step.name}` cannot be read: {exc}", text.span))
        return facts
    nodes = list(ast.walk(tree))  # one walk, shared by the policy and the name checks below
    allow_list: list[Diagnostic] = []
    for violation in find_violations(tree, nodes, scope.allowed_fields()):
        (allow_list if violation.code == "E0609" else facts.diagnostics).append(
            error(
                violation.code,
                violation.message,
                code_span(text, source, violation.lineno, violation.col, violation.end_lineno, violation.end_col),
                help=violation.hint,
            )
        )
    if not any(isinstance(node, ast.Return) for node in nodes):
        facts.diagnostics.append(
            error(
                "E0607",
                f"the code of step `{step.name}` never returns its output",
                text.span,
                help="end the code with `return {...}`, a dict with the fields of the step's output",
            )
        )
    facts.diagnostics += check_returns(step, tree, functools.partial(_node_span, text, source))
    free = code_free_names(tree, nodes)
    available = {"rng", *ALLOWED_BUILTINS, *SAFE_MODULES}
    # Names the policy refuses (`open`, `eval`, `__import__`, ...) have their own diagnostic.
    reported: set[str] = set(FORBIDDEN_NAMES) | {n for n in free if n.startswith("__")}
    inner = scope.with_locals(**{name: {} for name in available})
    for node in nodes:
        if isinstance(node, ast.Attribute):
            chain = _chain(node)
            if chain is None or chain[0].id not in free or chain[0].id in available:
                continue
            root, attrs = chain
            resolution = resolve_root(
                inner,
                root.id,
                functools.partial(_node_span, text, source, root),
                where=f"the code of step `{step.name}`",
            )
            if resolution.step:
                facts.steps.add(resolution.step)
            if resolution.diagnostics:
                if root.id not in reported:
                    facts.diagnostics.extend(resolution.diagnostics)
                    reported.add(root.id)
                continue
            schema = resolution.schema
            owner = root.id
            for attr_node, attr in attrs:
                schema, problems = resolve_attribute(
                    schema, owner, attr, functools.partial(_attribute_span, text, source, attr_node, attr)
                )
                if problems:
                    facts.diagnostics.extend(problems)
                    break
                owner = f"{owner}.{attr}"
        elif (
            isinstance(node, ast.Name)
            and isinstance(node.ctx, ast.Load)
            and node.id in free
            and node.id not in available
            and node.id not in reported
        ):
            resolution = resolve_root(
                inner,
                node.id,
                functools.partial(_node_span, text, source, node),
                where=f"the code of step `{step.name}`",
            )
            if resolution.step:
                facts.steps.add(resolution.step)
            if resolution.diagnostics:
                facts.diagnostics.extend(resolution.diagnostics)
                reported.add(node.id)
    facts.diagnostics.extend(not_explained(allow_list, facts.diagnostics))
    return facts


def _node_span(text: ir.Text, source: SourceFile, node: ast.expr) -> Span:
    return code_span(text, source, node.lineno, node.col_offset, node.end_lineno, node.end_col_offset)


def _attribute_span(text: ir.Text, source: SourceFile, node: ast.Attribute, attr: str) -> Span:
    """The span of `.attr`'s name: the node ends with it."""
    end_col = node.end_col_offset or 0
    line = node.end_lineno or node.lineno
    return code_span(text, source, line, end_col - len(attr.encode()), line, end_col)


def _chain(node: ast.Attribute) -> tuple[ast.Name, list[tuple[ast.Attribute, str]]] | None:
    """`a.b.c` as (Name a, [(node, b), (node, c)]) when the outermost node is given, else None."""
    attrs: list[tuple[ast.Attribute, str]] = []
    current: ast.expr = node
    while isinstance(current, ast.Attribute):
        attrs.append((current, current.attr))
        current = current.value
    if not isinstance(current, ast.Name):
        return None
    return current, list(reversed(attrs))
