"""Prompt and system templates: Jinja syntax, and every `{{ name.field }}` resolved.

Jinja's AST has line numbers but no columns, so a reference is located by searching
its template line for the dotted path; that is exact for every reference written on
one line, which is how templates are written.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from octolang import ir
from octolang.check.scope import Resolution, Scope, element_schema, resolve_attribute, resolve_root
from octolang.diagnostics import Diagnostic, did_you_mean, error
from octolang.sandbox.policy import never_allowed, normalise
from octolang.schema import Schema
from octolang.source import SourceFile, Span
from octolang.templates import environment


@dataclass
class TemplateFacts:
    steps: set[str] = field(default_factory=set)
    diagnostics: list[Diagnostic] = field(default_factory=list)


def check_template(text: ir.Text, scope: Scope, source: SourceFile, *, what: str) -> TemplateFacts:
    from jinja2 import TemplateSyntaxError

    facts = TemplateFacts()
    simple = _simple_template(text.value)
    if simple is not None:  # the common case, without Jinja's parser (a third of `octoc check`'s time)
        _Walker(text, source, facts, what).walk_simple(simple, scope)
        return facts
    env = environment()
    try:
        tree = env.parse(text.value)
    except TemplateSyntaxError as exc:
        span = _line_span(text, source, exc.lineno or 1)
        facts.diagnostics.append(
            error(
                "E0401",
                f"template syntax error in the {what}: {exc.message}",
                span,
                label="in this line of the template",
                help="Jinja syntax: `{{ value }}`, `{% if x %}...{% endif %}`, `{% for x in xs %}...{% endfor %}`",
            )
        )
        return facts
    _Walker(text, source, facts, what).visit(tree, scope)
    return facts


_REF = r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*"
_PLACEHOLDER = re.compile(r"\{\{[ \t]*(" + _REF + r")[ \t]*\}\}")
_TAG = re.compile(r"\{%-?\s*(if|elif|else|endif|for|endfor)\b(.*?)-?%\}", re.S)
_IF_TEST = re.compile(r"\s*(" + _REF + r")\s*")
_FOR_HEAD = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*)\s+in\s+(" + _REF + r")\s*")
_JINJA_WORDS = frozenset(
    "true false none True False None and or not in is if else elif for endfor recursive with without "
    "context import include from as set block extends macro call filter raw endraw".split()
)


@dataclass(frozen=True)
class _At:
    lineno: int


# A simple template, as events in text order: ("ref", line, root, attrs) for a placeholder or
# an `elif` test, ("if", line, root, attrs), ("for", line, variable, root, attrs), ("else",),
# ("end",).
SimpleEvent = tuple[Any, ...]


def _simple_template(value: str) -> list[SimpleEvent] | None:
    """The events of a template made only of text, `{{ name.field }}` placeholders and
    `if`/`elif`/`else`/`for` tags over plain references, in the order Jinja's own walk meets
    them; None when it uses anything else (comments, filters, expressions, `set`, a tag
    that does not balance), which Jinja's parser then reads and reports."""
    if "{#" in value or "{{{" in value or "}}}" in value:
        return None
    marks: list[tuple[int, re.Match[str], bool]] = [(m.start(), m, True) for m in _PLACEHOLDER.finditer(value)]
    if value.count("{{") != len(marks):
        return None
    if "{%" in value:
        tags = list(_TAG.finditer(value))
        if value.count("{%") != len(tags):
            return None
        marks += [(m.start(), m, False) for m in tags]
        marks.sort(key=lambda mark: mark[0])
    events: list[SimpleEvent] = []
    open_blocks: list[str] = []
    line, counted = 1, 0
    for start, match, placeholder in marks:
        line += value.count("\n", counted, start)
        counted = start
        if placeholder:
            parts = match.group(1).split(".")
            if _JINJA_WORDS.intersection(parts):
                return None
            events.append(("ref", line, parts[0], parts[1:]))
            continue
        kind, rest = match.group(1), match.group(2)
        if kind in ("if", "elif"):
            test = _IF_TEST.fullmatch(rest)
            if test is None or (kind == "elif" and open_blocks[-1:] != ["if"]):
                return None
            parts = test.group(1).split(".")
            if _JINJA_WORDS.intersection(parts):
                return None
            if kind == "if":
                open_blocks.append("if")
            events.append((kind if kind == "if" else "ref", line, parts[0], parts[1:]))
        elif kind == "for":
            head = _FOR_HEAD.fullmatch(rest)
            if head is None:
                return None
            variable, parts = head.group(1), head.group(2).split(".")
            if _JINJA_WORDS.intersection([variable, *parts]):
                return None
            open_blocks.append("for")
            events.append(("for", line, variable, parts[0], parts[1:]))
        else:
            if rest.strip() or not open_blocks:
                return None
            if kind == "else":
                events.append(("else",))
                continue
            if open_blocks.pop() != kind[3:]:  # endif closes an if, endfor a for
                return None
            events.append(("end",))
    return None if open_blocks else events


def _line_span(text: ir.Text, source: SourceFile, line: int) -> Span:
    start = text.index_of(line)
    end = text.value.find("\n", start)
    end = len(text.value) if end == -1 else end
    return text.span_of(source, start, max(end, start + 1))


class _Walker:
    def __init__(self, text: ir.Text, source: SourceFile, facts: TemplateFacts, what: str) -> None:
        self.text = text
        self.source = source
        self.facts = facts
        self.what = what
        self.env = environment()
        self._found: dict[tuple[int, str], int] = {}
        self._blanked: str | None = None

    @property
    def _searchable(self) -> str:
        """The text with comments and raw blocks blanked (same length), where references are
        searched for; made only when there is an error to locate."""
        if self._blanked is None:
            self._blanked = re.sub(
                r"\{#.*?#\}|\{%-?\s*raw\s*-?%\}.*?\{%-?\s*endraw\s*-?%\}",
                lambda m: re.sub(r"[^\n]", " ", m.group()),
                self.text.value,
                flags=re.S,
            )
        return self._blanked

    def walk_simple(self, events: list[SimpleEvent], scope: Scope) -> None:
        """What `visit` does with the Jinja tree of a simple template (`_simple_template`)."""
        # each open block: the scope outside it, and whether it is a loop (its `else` is outside)
        blocks: list[tuple[Scope, bool]] = []
        current = scope
        for event in events:
            if event[0] == "ref":
                self._resolve(_At(event[1]), event[2], event[3], current)
            elif event[0] == "if":
                self._resolve(_At(event[1]), event[2], event[3], current)
                blocks.append((current, False))
            elif event[0] == "for":
                _, line, variable, root, attrs = event
                self._resolve(_At(line), root, attrs, current)
                blocks.append((current, True))
                current = current.with_locals(loop={}, **{variable: self._element(root, attrs, current)})
            elif event[0] == "else":
                if blocks[-1][1]:
                    current = blocks[-1][0]
            else:
                current = blocks.pop()[0]

    def visit(self, node: Any, scope: Scope) -> Scope:
        """Visit a node; returns the scope for the nodes after it (`set` extends it)."""
        from jinja2 import nodes

        if isinstance(node, (nodes.Getattr, nodes.Getitem)) and self._chain(node) is not None:
            self._reference(node, scope)
            return scope
        if isinstance(node, nodes.Getattr) and never_allowed(node.attr):
            self.facts.diagnostics.append(self._refused(node.attr, self._attribute_span(node.lineno, node.attr)))
        if isinstance(node, nodes.Name):
            if node.ctx == "load":
                self._resolve(node, node.name, [], scope)
            return scope
        if isinstance(node, nodes.For):
            self.visit(node.iter, scope)
            element = self._element_of(node.iter, scope)
            inner = scope.with_locals(loop={}, **self._targets(node.target, element))
            if node.test is not None:
                self.visit(node.test, inner)
            self._visit_body(node.body, inner)
            self._visit_body(node.else_, scope)
            return scope
        if isinstance(node, nodes.Assign):
            self.visit(node.node, scope)
            return scope.with_locals(**self._targets(node.target, {}))
        if isinstance(node, nodes.AssignBlock):
            self._visit_body(node.body, scope)
            return scope.with_locals(**self._targets(node.target, {"type": "string"}))
        if isinstance(node, nodes.Macro):
            inner = scope.with_locals(**{a.name: {} for a in node.args}, varargs={}, kwargs={}, caller={})
            self._visit_body(node.body, inner)
            return scope.with_locals(**{node.name: {}})
        if isinstance(node, nodes.With):
            for value in node.values:
                self.visit(value, scope)
            inner = scope.with_locals(**{t.name: {} for t in node.targets if isinstance(t, nodes.Name)})
            self._visit_body(node.body, inner)
            return scope
        if isinstance(node, (nodes.Filter, nodes.Test)):
            self._check_filter(node)
        if isinstance(node, (nodes.Template, nodes.Output, nodes.If, nodes.FilterBlock, nodes.Scope)):
            current = scope
            for child in node.iter_child_nodes():
                current = self.visit(child, current)
            return scope if not isinstance(node, nodes.Template) else current
        for child in node.iter_child_nodes():
            self.visit(child, scope)
        return scope

    def _visit_body(self, body: list[Any], scope: Scope) -> None:
        current = scope
        for child in body:
            current = self.visit(child, current)

    def _targets(self, target: Any, schema: Schema) -> dict[str, Schema]:
        from jinja2 import nodes

        if isinstance(target, nodes.Name):
            return {target.name: schema}
        if isinstance(target, nodes.Tuple):
            return {t.name: {} for t in target.items if isinstance(t, nodes.Name)}
        return {}

    def _element_of(self, node: Any, scope: Scope) -> Schema:
        chain = self._chain(node)
        if chain is None:
            return {}
        root, attrs = chain
        return self._element(root.name, attrs, scope)

    def _element(self, name: str, attrs: list[str], scope: Scope) -> Schema:
        """The type of the items of the list `name.attrs...` ({} when unknown)."""
        resolution = resolve_root(scope, name, self.text.span, where=self.what)
        schema = resolution.schema
        for attr in attrs:
            schema, problems = resolve_attribute(schema, name, attr, self.text.span)
            if problems:
                return {}
        return element_schema(schema)

    def _chain(self, node: Any) -> tuple[Any, list[str]] | None:
        from jinja2 import nodes

        attrs: list[str] = []
        while True:
            if isinstance(node, nodes.Getattr):
                attrs.append(node.attr)
                node = node.node
            elif (
                isinstance(node, nodes.Getitem)
                and isinstance(node.arg, nodes.Const)
                and isinstance(node.arg.value, str)
            ):
                attrs.append(node.arg.value)
                node = node.node
            elif isinstance(node, nodes.Name):
                return node, list(reversed(attrs))
            else:
                return None

    def _reference(self, node: Any, scope: Scope) -> None:
        chain = self._chain(node)
        assert chain is not None
        root, attrs = chain
        self._resolve(root, root.name, attrs, scope)

    def _resolve(self, root: Any, name: str, attrs: list[str], scope: Scope) -> None:
        # Locating a reference in the text costs a regex search: done only for errors.
        problems = self._resolve_at(name, attrs, scope, lambda index: self.text.span)
        if problems:
            located = self._locate(root.lineno, name, attrs)
            self.facts.diagnostics.extend(self._resolve_at(name, attrs, scope, located))

    def _resolve_at(self, name: str, attrs: list[str], scope: Scope, location: Any) -> list[Diagnostic]:
        for index, attr in enumerate(attrs, start=1):
            if never_allowed(attr):
                return [self._refused(attr, location(index))]
        resolution: Resolution = resolve_root(scope, name, location(0), where=f"the {self.what}")
        if resolution.step:
            self.facts.steps.add(resolution.step)
        if resolution.diagnostics:
            return resolution.diagnostics
        schema = resolution.schema
        owner = name
        for index, attr in enumerate(attrs, start=1):
            schema, problems = resolve_attribute(schema, owner, attr, location(index))
            if problems:
                return problems
            owner = f"{owner}.{attr}"
        return []

    def _refused(self, attr: str, span: Span) -> Diagnostic:
        return error(
            "E0608",
            f"attribute `{normalise(attr)}` is not allowed in the {self.what}",
            span,
            label="this reaches Python's internals",
            help="names starting with `_`, string formatting methods and frame or generator attributes "
            "are never readable; format with filters, e.g. `{{ x | round(2) }}`",
        )

    def _attribute_span(self, line: int, attr: str) -> Span:
        match = re.compile(r"\.\s*(" + re.escape(attr) + r")\b").search(self._searchable, self.text.index_of(line))
        if match is None:
            return _line_span(self.text, self.source, line)
        return self.text.span_of(self.source, match.start(1), match.end(1))

    def _locate(self, line: int, name: str, attrs: list[str]) -> Any:
        """A function giving the span of the root (0) or of attribute i of a reference."""
        value = self._searchable
        line_start = self.text.index_of(line)
        pattern = (
            r"\b"
            + re.escape(name)
            + "".join(
                r"\s*(?:\.\s*(" + re.escape(a) + r")\b|\[\s*['\"](" + re.escape(a) + r")['\"]\s*\])" for a in attrs
            )
        )
        regex = re.compile(pattern)
        key = (line, pattern)
        skip = self._found.get(key, 0)
        matches = list(regex.finditer(value, line_start))
        match = matches[skip] if skip < len(matches) else (matches[0] if matches else None)
        self._found[key] = skip + 1

        def span(index: int) -> Span:
            if match is None:
                return _line_span(self.text, self.source, line)
            if index == 0:
                return self.text.span_of(self.source, match.start(), match.start() + len(name))
            group = 2 * index - 1
            start = match.start(group) if match.group(group) is not None else match.start(group + 1)
            end = match.end(group) if match.group(group) is not None else match.end(group + 1)
            return self.text.span_of(self.source, start, end)

        return span

    def _check_filter(self, node: Any) -> None:
        from jinja2 import nodes

        known = self.env.filters if isinstance(node, nodes.Filter) else self.env.tests
        if node.name in known:
            return
        kind = "filter" if isinstance(node, nodes.Filter) else "test"
        # (the third argument of re.search is `flags`: search from the line with a compiled pattern)
        match = re.compile(r"\b" + re.escape(node.name) + r"\b").search(
            self._searchable, self.text.index_of(node.lineno)
        )
        span = (
            self.text.span_of(self.source, match.start(), match.end())
            if match
            else _line_span(self.text, self.source, node.lineno)
        )
        self.facts.diagnostics.append(
            error(
                "E0403",
                f"unknown {kind} `{node.name}` in the {self.what}",
                span,
                help=did_you_mean(node.name, known)
                or f"Jinja's built-in {kind}s are listed at https://jinja.palletsprojects.com/templates/",
            )
        )
