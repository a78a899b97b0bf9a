"""Parse tree -> IR. One method per grammar rule or alias (see grammar/octo.lark).

Lowering only reshapes: it decodes literals, attaches spans and reports what the
grammar cannot say (a setting given twice in a step, a bad escape). Name resolution
and everything semantic is the checker's job.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from lark import Token, Tree

from octolang import ir
from octolang.diagnostics import Diagnostic, error
from octolang.source import SourceFile, Span, construct, make_span
from octolang.syntax.strings import decode_string

_BOOL_WORDS = {"true": True, "false": False, "True": True, "False": False}
_NONE_WORDS = {"None", "null"}


def lower_tree(tree: Tree[Token], source: SourceFile) -> tuple[ir.Program, list[Diagnostic]]:
    lowering = _Lowering(source)
    program = lowering.lower(tree)
    assert isinstance(program, ir.Program)
    return program, lowering.diagnostics


# Tokens the lowering methods receive; keywords and punctuation only give positions.
_VALUE_TOKENS = frozenset(
    {"NAME", "INT", "FLOAT", "MONEY", "RATE", "DURATION", "STRING", "LONG_STRING", "ADD_OP", "MUL_OP", "POW_OP"}
)
_RULES_WITH_ALL_TOKENS = frozenset({"comp_op", "price_kind"})


class _Meta:
    """A node's position, from its first and last tokens (keywords and brackets included)."""

    __slots__ = ("column", "empty", "end_column", "end_line", "end_pos", "line", "start_pos")
    line: int
    column: int
    start_pos: int
    end_line: int
    end_column: int
    end_pos: int

    def __init__(self, first: Token | None, last: Token | None) -> None:
        self.empty = first is None or last is None
        if first is not None and last is not None:
            # the lexer gives every token its position; Lark types them as optional
            self.line, self.column, self.start_pos = first.line or 0, first.column or 0, first.start_pos or 0
            self.end_line, self.end_column, self.end_pos = last.end_line or 0, last.end_column or 0, last.end_pos or 0


class _Lowering:
    """Bottom-up: each rule's method gets the rule's position and its lowered children.

    The parser keeps every token and computes no positions (`keep_all_tokens=True`,
    `propagate_positions=False`): spans are taken here from each node's first and last
    token, which costs less than half of what Lark's position propagation does.

    Nodes are built with `construct` (pydantic's `model_construct`, faster): the values
    come from the grammar, already of the right types, and validating them would first
    build pydantic's validators for the whole recursive IR (about 200 ms at every start
    of `octoc`). The tests validate the IR of every example against its schema (`Program.model_validate`)."""

    def __init__(self, source: SourceFile) -> None:
        self.source = source
        self.file = source.path
        self.diagnostics: list[Diagnostic] = []

    def lower(self, tree: Tree[Token]) -> Any:
        return self._lower(tree)[0]

    def _lower(self, tree: Tree[Token]) -> tuple[Any, Token | None, Token | None]:
        first: Token | None = None
        last: Token | None = None
        children: list[Any] = []
        keep_all = tree.data in _RULES_WITH_ALL_TOKENS
        for child in tree.children:
            if type(child) is Tree:
                value, child_first, child_last = self._lower(child)
                if child_first is not None:
                    if first is None:
                        first = child_first
                    last = child_last
                children.append(value)
            elif child is None:
                children.append(None)
            else:
                assert isinstance(child, Token)
                if first is None:
                    first = child
                last = child
                if keep_all or child.type in _VALUE_TOKENS:
                    children.append(child)
        method = getattr(self, tree.data, None)
        if method is None:  # a bracketed inner rule, e.g. `"(" expr ")"`: the inside is the node
            values = [c for c in children if c is not None]
            if len(values) != 1:
                raise AssertionError(f"grammar rule `{tree.data}` has no lowering")
            return values[0], first, last
        return method(_Meta(first, last), *children), first, last

    # ------------------------------------------------------------ helpers
    def _span(self, meta: _Meta) -> Span:
        if meta.empty:
            return self.source.span(0, 0)
        return make_span(
            self.file, meta.line, meta.column, meta.end_line, meta.end_column, meta.start_pos, meta.end_pos
        )

    def _tok(self, token: Token) -> Span:
        return make_span(
            self.file,
            token.line or 1,
            token.column or 1,
            token.end_line or 1,
            token.end_column or 1,
            token.start_pos or 0,
            token.end_pos or 0,
        )

    def _int(self, token: Token) -> int:
        return int(str(token).replace("_", ""))

    # ------------------------------------------------------------ program
    def start(self, meta: _Meta, *items: Any) -> ir.Program:
        program = construct(ir.Program, span=self.source.span(0, len(self.source.text)), file=self.file)
        for kind, node in items:
            if kind == "pipeline":
                if program.pipeline is not None:
                    self.diagnostics.append(
                        error(
                            "E0110",
                            "the pipeline is named twice",
                            node.span,
                            help="a file holds one pipeline; keep one `pipeline` line",
                        )
                    )
                else:
                    program.pipeline = node
            elif kind == "seed":
                self._once(program, "seed", node)
            elif kind == "budget":
                self._once(program, "budget", node)
            elif kind == "run":
                if program.run is not None:
                    self.diagnostics.append(
                        error("E0110", "`run` is given twice", node.span, help="keep one `run { ... }` block")
                    )
                else:
                    program.run = node
            else:
                getattr(program, kind).append(node)
        return program

    def _once(self, program: ir.Program, what: str, node: tuple[Any, Span]) -> None:
        value, span = node
        if getattr(program, what) is not None:
            self.diagnostics.append(error("E0110", f"`{what}` is given twice", span, help=f"keep one `{what}` line"))
            return
        setattr(program, what, value)
        if what == "budget":
            program.budget_span = span

    def pipeline_decl(self, meta: _Meta, name: Token, title: ir.Text | None) -> tuple[str, Any]:
        return "pipeline", construct(
            ir.PipelineDecl, span=self._span(meta), name=str(name), title=title.value if title else None
        )

    def seed_decl(self, meta: _Meta, value: Token) -> tuple[str, Any]:
        return "seed", (self._int(value), self._span(meta))

    def budget_decl(self, meta: _Meta, money: Token) -> tuple[str, Any]:
        return "budget", (Decimal(str(money)[1:]), self._span(meta))

    def const_decl(self, meta: _Meta, name: Token, value: Any) -> tuple[str, Any]:
        return "consts", construct(
            ir.ConstDecl, span=self._span(meta), name=str(name), name_span=self._tok(name), value=value
        )

    # ------------------------------------------------------------ models
    def model_decl(
        self, meta: _Meta, name: Token, provider: Token, model_id: ir.Text, body: list[Any] | None
    ) -> tuple[str, Any]:
        settings: list[ir.ModelSetting] = []
        prices: dict[str, tuple[Decimal, Span]] = {}
        for item in body or []:
            if isinstance(item, ir.ModelSetting):
                if any(s.name == item.name for s in settings):
                    self.diagnostics.append(
                        error("E0112", f"setting `{item.name}` is given twice", item.span, help="keep one of them")
                    )
                    continue
                settings.append(item)
            else:
                kind, value, span = item
                if kind in prices:
                    self.diagnostics.append(
                        error("E0112", f"price `{kind}` is given twice", span, help="keep one of them")
                    )
                prices[kind] = (value, span)
        price = None
        if prices:
            spans = [s for _, s in prices.values()]
            covered = spans[0]
            for s in spans[1:]:
                covered = covered.cover(s)
            price = construct(
                ir.PriceOverride,
                span=covered,
                input=prices["in"][0] if "in" in prices else None,
                output=prices["out"][0] if "out" in prices else None,
                cached=prices["cached"][0] if "cached" in prices else None,
            )
        return "models", construct(
            ir.ModelDecl,
            span=self._span(meta),
            name=str(name),
            name_span=self._tok(name),
            provider=str(provider),
            provider_span=self._tok(provider),
            model_id=model_id.value,
            model_id_span=model_id.span,
            settings=settings,
            price=price,
        )

    def model_body(self, meta: _Meta, *items: Any) -> list[Any]:
        return list(items)

    def setting(self, meta: _Meta, name: Token, value: Any) -> ir.ModelSetting:
        is_word = isinstance(value, tuple)
        if is_word:
            raw, value_span = value
        elif isinstance(value, ir.Constant):
            raw, value_span = value.value, value.span
        else:  # a Text
            raw, value_span = value.value, value.span
        return construct(
            ir.ModelSetting, span=self._span(meta), name=str(name), value=raw, value_span=value_span, is_word=is_word
        )

    def word(self, meta: _Meta, token: Token) -> tuple[Any, Span]:
        text = str(token)
        if text in _BOOL_WORDS:
            return _BOOL_WORDS[text], self._tok(token)
        return text, self._tok(token)

    def price_rate(self, meta: _Meta, kind: Any, rate: Token) -> tuple[str, Decimal, Span]:
        return str(kind), Decimal(str(rate)[1:-2]), self._span(meta)

    def price_kind(self, meta: _Meta, token: Token) -> str:
        return str(token)

    # ------------------------------------------------------------ run
    def run_decl(self, meta: _Meta, *items: ir.ModelSetting) -> tuple[str, Any]:
        settings: list[ir.ModelSetting] = []
        for item in items:
            if any(s.name == item.name for s in settings):
                self.diagnostics.append(
                    error("E0112", f"setting `{item.name}` is given twice", item.span, help="keep one of them")
                )
                continue
            settings.append(item)
        return "run", construct(ir.RunDecl, span=self._span(meta), settings=settings)

    # ------------------------------------------------------------ types
    def type_decl(self, meta: _Meta, name: Token, record: ir.RecordType) -> tuple[str, Any]:
        return "types", construct(
            ir.TypeDecl, span=self._span(meta), name=str(name), name_span=self._tok(name), record=record
        )

    def record_type(self, meta: _Meta, *fields: ir.RecordField) -> ir.RecordType:
        return construct(ir.RecordType, span=self._span(meta), fields=list(fields))

    def field(self, meta: _Meta, name: Token, type_: Any, description: ir.Text | None) -> ir.RecordField:
        return construct(
            ir.RecordField,
            span=self._span(meta),
            name=str(name),
            type=type_,
            description=description.value if description else None,
        )

    def named_type(self, meta: _Meta, name: Token, bounds: Any) -> ir.NamedType:
        low, high = bounds if bounds is not None else (None, None)
        return construct(
            ir.NamedType, span=self._span(meta), name=str(name), low=low, high=high, has_range=bounds is not None
        )

    def list_type(self, meta: _Meta, item: Any, bounds: Any) -> ir.ListType:
        low, high = bounds if bounds is not None else (None, None)
        return construct(
            ir.ListType, span=self._span(meta), item=item, min_items=low, max_items=high, has_range=bounds is not None
        )

    def literal_type(self, meta: _Meta, value: Any) -> ir.LiteralType:
        raw = value.value if isinstance(value, ir.Text) else value
        return construct(ir.LiteralType, span=self._span(meta), value=raw)

    def union_type(self, meta: _Meta, *options: Any) -> ir.UnionType:
        return construct(ir.UnionType, span=self._span(meta), options=list(options))

    def optional_type(self, meta: _Meta, inner: Any) -> ir.OptionalType:
        return construct(ir.OptionalType, span=self._span(meta), inner=inner)

    def range(self, meta: _Meta, low: Any, high: Any) -> tuple[Any, Any]:
        return low, high

    def signed_int(self, meta: _Meta, sign: Token | None, value: Token) -> int:
        number = self._int(value)
        return -number if sign is not None and str(sign) == "-" else number

    def signed_number(self, meta: _Meta, sign: Token | None, value: Token) -> int | float:
        text = str(value).replace("_", "")
        number: int | float = float(text) if value.type == "FLOAT" else int(text)
        return -number if sign is not None and str(sign) == "-" else number

    # ------------------------------------------------------------ units
    def units_decl(self, meta: _Meta, name: Token, source: Any, body: list[Any] | None) -> tuple[str, Any]:
        units = construct(ir.UnitsDecl, span=self._span(meta), name=str(name), name_span=self._tok(name))
        items: list[tuple[str, Any]] = ([source] if source is not None else []) + (body or [])
        seen: dict[str, Span] = {}
        for kind, value in items:
            span = value[1] if isinstance(value, tuple) else getattr(value, "span", units.span)
            if kind in ("source", "key", "trials", "limit") and kind in seen:
                self.diagnostics.append(
                    error(
                        "E0112",
                        f"`{_UNIT_WORDS[kind]}` is given twice in `units {name}`",
                        span,
                        help="keep one of them",
                    )
                )
                continue
            seen[kind] = span
            if kind == "source":
                units.source = value
            elif kind == "key":
                units.key, units.key_span = value
            elif kind == "rows":
                units.rows.extend(value)
            elif kind == "vary":
                units.vary.append(value)
            elif kind == "trials":
                units.trials, units.trials_span = value
            elif kind == "limit":
                units.limit = value[0]
        return "units", units

    def units_from(self, meta: _Meta, path: ir.Text) -> tuple[str, Any]:
        return "source", path

    def units_body(self, meta: _Meta, *items: Any) -> list[Any]:
        return list(items)

    def unit_key(self, meta: _Meta, name: Token) -> tuple[str, Any]:
        return "key", (str(name), self._tok(name))

    def unit_rows(self, meta: _Meta, *rows: ir.Row | None) -> tuple[str, Any]:
        return "rows", [r for r in rows if r is not None]

    def row(self, meta: _Meta, *fields: ir.RowField | None) -> ir.Row:
        return construct(ir.Row, span=self._span(meta), fields=[f for f in fields if f is not None])

    def row_field(self, meta: _Meta, name: Token, value: Any) -> ir.RowField:
        return construct(ir.RowField, span=self._span(meta), name=str(name), value=value)

    def unit_vary(self, meta: _Meta, name: Token, values: Any) -> tuple[str, Any]:
        return "vary", construct(
            ir.Vary, span=self._span(meta), name=str(name), name_span=self._tok(name), values=values
        )

    def unit_trials(self, meta: _Meta, count: Token) -> tuple[str, Any]:
        return "trials", (self._int(count), self._span(meta))

    def unit_limit(self, meta: _Meta, count: Token) -> tuple[str, Any]:
        return "limit", (self._int(count), self._span(meta))

    # ------------------------------------------------------------ steps
    def llm_step(self, meta: _Meta, name: Token, model: Token, body: list[Any]) -> tuple[str, Any]:
        step = construct(
            ir.StepDecl,
            span=self._span(meta),
            name=str(name),
            name_span=self._tok(name),
            kind="llm",
            model=str(model),
            model_span=self._tok(model),
        )
        return "steps", self._fill_step(step, body)

    def compute_step(self, meta: _Meta, name: Token, body: list[Any]) -> tuple[str, Any]:
        step = construct(ir.StepDecl, span=self._span(meta), name=str(name), name_span=self._tok(name), kind="compute")
        return "steps", self._fill_step(step, body)

    def _fill_step(self, step: ir.StepDecl, body: list[Any]) -> ir.StepDecl:
        seen: set[str] = set()
        for key, value, span in body:
            if key in seen and key != "validate_rules":
                self.diagnostics.append(
                    error(
                        "E0112",
                        f"`{_STEP_WORDS[key]}` is given twice in step `{step.name}`",
                        span,
                        help="keep one of them",
                    )
                )
                continue
            seen.add(key)
            if key == "validate_rules":
                step.validate_rules.extend(value)
            else:
                setattr(step, key, value)
        return step

    def step_body(self, meta: _Meta, *items: Any) -> list[Any]:
        return list(items)

    def step_system(self, meta: _Meta, text: ir.Text) -> tuple[str, Any, Span]:
        return "system", text, self._span(meta)

    def step_prompt(self, meta: _Meta, text: ir.Text) -> tuple[str, Any, Span]:
        return "prompt", text, self._span(meta)

    def step_output(self, meta: _Meta, type_: Any) -> tuple[str, Any, Span]:
        return "output", type_, self._span(meta)

    def step_validate(self, meta: _Meta, *rules: ir.Rule) -> tuple[str, Any, Span]:
        return "validate_rules", list(rules), self._span(meta)

    def rule(self, meta: _Meta, condition: Any, message: ir.Text) -> ir.Rule:
        return construct(ir.Rule, span=self._span(meta), condition=condition, message=message.value)

    def step_retries(self, meta: _Meta, count: Token) -> tuple[str, Any, Span]:
        return "retries", self._int(count), self._span(meta)

    def step_code(self, meta: _Meta, text: ir.Text) -> tuple[str, Any, Span]:
        return "code", text, self._span(meta)

    def step_timeout(self, meta: _Meta, duration: Token) -> tuple[str, Any, Span]:
        text = str(duration)
        for suffix, factor in (("ms", 0.001), ("s", 1.0), ("m", 60.0), ("h", 3600.0)):
            if text.endswith(suffix):
                return "timeout_seconds", float(text[: -len(suffix)]) * factor, self._span(meta)
        raise AssertionError(text)  # the DURATION terminal admits only these suffixes

    # ------------------------------------------------------------ gates and reports
    def gate_decl(self, meta: _Meta, condition: Any, action: dict[str, Any]) -> tuple[str, Any]:
        return "gates", construct(ir.GateDecl, span=self._span(meta), condition=condition, **action)

    def gate_retry(self, meta: _Meta, target: Token, limit: int | None, feedback: Any) -> dict[str, Any]:
        return {
            "action": "retry",
            "target": str(target),
            "target_span": self._tok(target),
            "max_retries": limit if limit is not None else 1,
            "feedback": feedback,
        }

    def gate_max(self, meta: _Meta, count: Token) -> int:
        return self._int(count)

    def gate_feedback(self, meta: _Meta, expr: Any) -> Any:
        return expr

    def gate_skip(self, meta: _Meta) -> dict[str, Any]:
        return {"action": "skip"}

    def report_decl(self, meta: _Meta, name: Token, *items: Any) -> tuple[str, Any]:
        report = construct(ir.ReportDecl, span=self._span(meta), name=str(name), name_span=self._tok(name))
        for kind, value, span in items:
            if kind == "group":
                if report.group_by:
                    self.diagnostics.append(
                        error("E0112", "`group by` is given twice", span, help="list every key in one `group by a, b`")
                    )
                report.group_by = value
            elif kind == "where":
                if report.where is not None:
                    self.diagnostics.append(
                        error("E0112", "`where` is given twice", span, help="combine the conditions with `and`")
                    )
                report.where = value
            else:
                report.metrics.append(value)
        return "reports", report

    def report_group(self, meta: _Meta, *keys: Any) -> tuple[str, Any, Span]:
        return "group", list(keys), self._span(meta)

    def report_where(self, meta: _Meta, condition: Any) -> tuple[str, Any, Span]:
        return "where", condition, self._span(meta)

    def report_metric(self, meta: _Meta, name: Token, expr: Any) -> tuple[str, Any, Span]:
        return (
            "metric",
            construct(ir.Metric, span=self._span(meta), name=str(name), name_span=self._tok(name), expr=expr),
            self._span(meta),
        )

    # ------------------------------------------------------------ expressions
    def name(self, meta: _Meta, token: Token) -> Any:
        text = str(token)
        span = self._tok(token)
        if text in _BOOL_WORDS:
            return construct(ir.Constant, span=span, value=_BOOL_WORDS[text])
        if text in _NONE_WORDS:
            return construct(ir.Constant, span=span, value=None)
        return construct(ir.Name, span=span, id=text)

    def int_lit(self, meta: _Meta, token: Token) -> ir.Constant:
        return construct(ir.Constant, span=self._tok(token), value=self._int(token))

    def float_lit(self, meta: _Meta, token: Token) -> ir.Constant:
        return construct(ir.Constant, span=self._tok(token), value=float(str(token).replace("_", "")))

    def string(self, meta: _Meta, token: Token) -> ir.Text:
        value, anchors, problems = decode_string(str(token), token.start_pos or 0)
        for offset, message in problems:
            self.diagnostics.append(
                error("E0005", message, self.source.span(offset, offset + 2), help="write `\\\\` for a backslash")
            )
        raw = str(token)
        skipped = raw[: anchors[0][1] - (token.start_pos or 0)].count("\n")
        return construct(
            ir.Text, span=self._tok(token), value=value, anchors=anchors, first_line=(token.line or 1) + skipped
        )

    def str_lit(self, meta: _Meta, token: Token) -> ir.Constant:
        text = self.string(meta, token)
        return construct(ir.Constant, span=text.span, value=text.value)

    def _expr(self, node: Any) -> Any:
        if isinstance(node, ir.Text):
            return construct(ir.Constant, span=node.span, value=node.value)
        return node

    def attribute(self, meta: _Meta, value: Any, attr: Token) -> ir.Attribute:
        return construct(
            ir.Attribute, span=self._span(meta), value=self._expr(value), attr=str(attr), attr_span=self._tok(attr)
        )

    def call(self, meta: _Meta, func: Any, arguments: Any) -> ir.Call:
        args: list[Any] = []
        keywords: list[ir.Keyword] = []
        if isinstance(arguments, ir.Comprehension):
            args = [arguments]
        elif arguments is not None:
            for arg in arguments:
                if isinstance(arg, ir.Keyword):
                    keywords.append(arg)
                else:
                    if keywords:
                        self.diagnostics.append(
                            error(
                                "E0001",
                                "a positional argument follows a keyword argument",
                                arg.span,
                                help="put positional arguments first",
                            )
                        )
                    args.append(arg)
        return construct(ir.Call, span=self._span(meta), func=self._expr(func), args=args, keywords=keywords)

    def arguments(self, meta: _Meta, *args: Any) -> list[Any]:
        return [self._expr(a) for a in args]

    def generator_argument(self, meta: _Meta, element: Any, comp: dict[str, Any]) -> ir.Comprehension:
        return construct(ir.Comprehension, span=self._span(meta), generator=True, element=self._expr(element), **comp)

    def keyword_argument(self, meta: _Meta, name: Token, value: Any) -> ir.Keyword:
        return construct(ir.Keyword, span=self._span(meta), name=str(name), value=self._expr(value))

    def index(self, meta: _Meta, value: Any, index: Any) -> ir.Index:
        return construct(ir.Index, span=self._span(meta), value=self._expr(value), index=self._expr(index))

    def slice(self, meta: _Meta, lower: Any, upper: Any) -> ir.Slice:
        return construct(ir.Slice, span=self._span(meta), lower=self._opt(lower), upper=self._opt(upper))

    def _opt(self, node: Any) -> Any:
        return None if node is None else self._expr(node)

    def list_expr(self, meta: _Meta, *elts: Any) -> ir.ListExpr:
        return construct(ir.ListExpr, span=self._span(meta), elts=[self._expr(e) for e in elts if e is not None])

    def tuple_expr(self, meta: _Meta, *elts: Any) -> ir.TupleExpr:
        return construct(ir.TupleExpr, span=self._span(meta), elts=[self._expr(e) for e in elts if e is not None])

    def list_comprehension(self, meta: _Meta, element: Any, comp: dict[str, Any]) -> ir.Comprehension:
        return construct(ir.Comprehension, span=self._span(meta), generator=False, element=self._expr(element), **comp)

    def comp_for(self, meta: _Meta, targets: list[str], iterable: Any, condition: Any) -> dict[str, Any]:
        return {"targets": targets, "iter": self._expr(iterable), "condition": self._opt(condition)}

    def comp_target(self, meta: _Meta, *names: Token) -> list[str]:
        return [str(n) for n in names]

    def comp_if(self, meta: _Meta, condition: Any) -> Any:
        return condition

    def if_expr(self, meta: _Meta, body: Any, test: Any, orelse: Any) -> ir.IfExp:
        return construct(
            ir.IfExp, span=self._span(meta), test=self._expr(test), body=self._expr(body), orelse=self._expr(orelse)
        )

    def or_expr(self, meta: _Meta, *values: Any) -> ir.BoolOp:
        return construct(ir.BoolOp, span=self._span(meta), op="or", values=[self._expr(v) for v in values])

    def and_expr(self, meta: _Meta, *values: Any) -> ir.BoolOp:
        return construct(ir.BoolOp, span=self._span(meta), op="and", values=[self._expr(v) for v in values])

    def not_expr(self, meta: _Meta, operand: Any) -> ir.Unary:
        return construct(ir.Unary, span=self._span(meta), op="not", operand=self._expr(operand))

    def comparison(self, meta: _Meta, left: Any, *rest: Any) -> ir.Compare:
        ops = [rest[i] for i in range(0, len(rest), 2)]
        comparators = [self._expr(rest[i]) for i in range(1, len(rest), 2)]
        return construct(ir.Compare, span=self._span(meta), left=self._expr(left), ops=ops, comparators=comparators)

    def comp_op(self, meta: _Meta, *tokens: Token) -> str:
        return " ".join(str(t) for t in tokens)

    def binary(self, meta: _Meta, left: Any, op: Token, right: Any) -> ir.Binary:
        return construct(
            ir.Binary,
            span=self._span(meta),
            op=str(op),
            left=self._expr(left),
            right=self._expr(right),
        )

    def unary(self, meta: _Meta, op: Token, operand: Any) -> ir.Unary:
        return construct(
            ir.Unary,
            span=self._span(meta),
            op=str(op),  # ADD_OP: "+" or "-"
            operand=self._expr(operand),
        )


_UNIT_WORDS = {"source": "from", "key": "key", "trials": "trials", "limit": "limit"}
_STEP_WORDS = {
    "system": "system",
    "prompt": "prompt",
    "output": "output",
    "retries": "retries",
    "code": "code",
    "timeout_seconds": "timeout",
}
