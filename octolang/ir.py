"""The typed program: what `octoc check` produces and every backend consumes.

Every node carries the `Span` of the text it came from. The lowering pass
(`octolang/syntax/lower.py`) builds the declarations; the checker
(`octolang/check/`) fills the resolved parts (`Step.depends_on`, `Step.output_schema`,
`Program.order`, `Program.unit_fields`, ...). Backends never look at source text.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from octolang.source import SourceFile, Span


class Node(BaseModel):
    model_config = ConfigDict(defer_build=True)

    span: Span


# ---------------------------------------------------------------- text


class Text(Node):
    """A string literal's decoded value, with the map back to the source.

    `anchors` are (index in `value`, offset in the file) pairs, sorted: the file offset
    of value[i] is `o + (i - v)` for the last anchor (v, o) with v <= i. Triple-quoted
    strings get an anchor per line (they are dedented); escapes add one each.
    """

    value: str
    anchors: list[tuple[int, int]]
    first_line: int = 1  # the file line holding value's first line (for tracebacks)

    def file_offset(self, index: int) -> int:
        best = self.anchors[0]
        for anchor in self.anchors:
            if anchor[0] > index:
                break
            best = anchor
        return best[1] + (index - best[0])

    def index_of(self, line: int, col: int = 1) -> int:
        """Index in `value` of a 1-based (line, col) inside the string's own text."""
        index = 0
        for _ in range(line - 1):
            newline = self.value.find("\n", index)
            if newline == -1:
                return len(self.value)
            index = newline + 1
        return min(index + col - 1, len(self.value))

    def span_of(self, source: SourceFile, start: int, end: int) -> Span:
        """The file span of value[start:end] (clamped to the string)."""
        start = max(0, min(start, len(self.value)))
        end = max(start, min(end, len(self.value)))
        if not self.value:
            return self.span
        first = self.file_offset(start)
        last = self.file_offset(max(start, end - 1)) + (1 if end > start else 0)
        return source.span(first, max(first, last))


# ---------------------------------------------------------------- expressions


class Name(Node):
    kind: Literal["name"] = "name"
    id: str


class Constant(Node):
    kind: Literal["constant"] = "constant"
    value: str | int | float | bool | None


class Attribute(Node):
    kind: Literal["attribute"] = "attribute"
    value: Expr
    attr: str
    attr_span: Span


class Index(Node):
    kind: Literal["index"] = "index"
    value: Expr
    index: Expr


class Slice(Node):
    kind: Literal["slice"] = "slice"
    lower: Expr | None
    upper: Expr | None


class Keyword(Node):
    name: str
    value: Expr


class Call(Node):
    kind: Literal["call"] = "call"
    func: Expr
    args: list[Expr]
    keywords: list[Keyword] = []


class Unary(Node):
    kind: Literal["unary"] = "unary"
    op: Literal["-", "+", "not"]
    operand: Expr


class Binary(Node):
    kind: Literal["binary"] = "binary"
    op: Literal["+", "-", "*", "/", "//", "%", "**"]
    left: Expr
    right: Expr


class BoolOp(Node):
    kind: Literal["boolop"] = "boolop"
    op: Literal["and", "or"]
    values: list[Expr]


class Compare(Node):
    kind: Literal["compare"] = "compare"
    left: Expr
    ops: list[Literal["==", "!=", "<", "<=", ">", ">=", "in", "not in", "is", "is not"]]
    comparators: list[Expr]


class IfExp(Node):
    kind: Literal["if"] = "if"
    test: Expr
    body: Expr
    orelse: Expr


class ListExpr(Node):
    kind: Literal["list"] = "list"
    elts: list[Expr]


class TupleExpr(Node):
    kind: Literal["tuple"] = "tuple"
    elts: list[Expr]


class Comprehension(Node):
    """`[elt for a, b in iter if cond]`, or the generator form as a call's only argument."""

    kind: Literal["comprehension"] = "comprehension"
    generator: bool
    element: Expr
    targets: list[str]
    iter: Expr
    condition: Expr | None


Expr = Annotated[
    Name
    | Constant
    | Attribute
    | Index
    | Slice
    | Call
    | Unary
    | Binary
    | BoolOp
    | Compare
    | IfExp
    | ListExpr
    | TupleExpr
    | Comprehension,
    Field(discriminator="kind"),
]


# ---------------------------------------------------------------- types


class NamedType(Node):
    """`string`, `int`, `float`, `bool`, or a declared `type`; `low..high` bounds a number
    (for `string` they bound the length)."""

    kind: Literal["named"] = "named"
    name: str
    low: int | float | None = None
    high: int | float | None = None
    has_range: bool = False


class ListType(Node):
    kind: Literal["list"] = "list"
    item: TypeExpr
    min_items: int | float | None = None
    max_items: int | float | None = None
    has_range: bool = False


class LiteralType(Node):
    kind: Literal["literal"] = "literal"
    value: str | int


class UnionType(Node):
    kind: Literal["union"] = "union"
    options: list[TypeExpr]


class OptionalType(Node):
    kind: Literal["optional"] = "optional"
    inner: TypeExpr


class RecordField(Node):
    name: str
    type: TypeExpr
    description: str | None = None


class RecordType(Node):
    kind: Literal["record"] = "record"
    fields: list[RecordField]


TypeExpr = Annotated[
    NamedType | ListType | LiteralType | UnionType | OptionalType | RecordType,
    Field(discriminator="kind"),
]


# ---------------------------------------------------------------- declarations


class PipelineDecl(Node):
    name: str
    title: str | None = None


class ConstDecl(Node):
    name: str
    name_span: Span
    value: Expr
    resolved: Any = None


class ModelSetting(Node):
    name: str
    value: str | int | float | bool
    value_span: Span
    is_word: bool = False


class PriceOverride(Node):
    """USD per million tokens; batch prices default to half of these."""

    input: Decimal | None = None
    output: Decimal | None = None
    cached: Decimal | None = None


class RunDecl(Node):
    """`run { executor = "ray", ... }`: where the run's compute steps go (docs/scale.md)."""

    settings: list[ModelSetting] = []

    def setting(self, name: str, default: Any = None) -> Any:
        for s in self.settings:
            if s.name == name:
                return s.value
        return default


class ModelDecl(Node):
    name: str
    name_span: Span
    provider: str
    provider_span: Span
    model_id: str
    model_id_span: Span
    settings: list[ModelSetting] = []
    price: PriceOverride | None = None

    def setting(self, name: str, default: Any = None) -> Any:
        for s in self.settings:
            if s.name == name:
                return s.value
        return default

    @property
    def mode(self) -> str:
        """How the model is called: `batch` (the default), `realtime`, or `auto` (decided per
        run by the number of requests). OpenAI-compatible servers are always called in
        realtime: few of them implement the batch endpoints."""
        if self.provider == "openai_compatible":
            return "realtime"
        return str(self.setting("mode", "batch"))


class TypeDecl(Node):
    name: str
    name_span: Span
    record: RecordType


class RowField(Node):
    name: str
    value: Expr


class Row(Node):
    fields: list[RowField]


class Vary(Node):
    name: str
    name_span: Span
    values: Expr
    resolved: list[Any] = []


class UnitField(BaseModel):
    """A field of every unit, as the checker inferred it."""

    name: str
    type: dict[str, Any]
    origin: Literal["column", "row", "vary", "trial"]


class UnitsDecl(Node):
    name: str
    name_span: Span
    source: Text | None = None
    source_path: str | None = None
    key: str | None = None
    key_span: Span | None = None
    rows: list[Row] = []
    vary: list[Vary] = []
    trials: int | None = None
    trials_span: Span | None = None
    limit: int | None = None


class Rule(Node):
    condition: Expr
    message: str


DEFAULT_RETRIES = 2


class StepDecl(Node):
    name: str
    name_span: Span
    kind: Literal["llm", "compute"]
    model: str | None = None
    model_span: Span | None = None
    system: Text | None = None
    prompt: Text | None = None
    output: TypeExpr | None = None
    validate_rules: list[Rule] = []
    retries: int | None = None  # None: DEFAULT_RETRIES for llm steps
    code: Text | None = None
    timeout_seconds: float | None = None
    # resolved by the checker
    depends_on: list[str] = []
    output_schema: dict[str, Any] | None = None

    @property
    def retry_limit(self) -> int:
        return self.retries if self.retries is not None else DEFAULT_RETRIES


class GateDecl(Node):
    condition: Expr
    action: Literal["retry", "skip"]
    target: str | None = None
    target_span: Span | None = None
    max_retries: int = 1
    feedback: Expr | None = None
    # resolved: the steps the condition reads (the judges); the gate runs after them
    judges: list[str] = []


class Metric(Node):
    name: str
    name_span: Span
    expr: Expr


class ReportDecl(Node):
    name: str
    name_span: Span
    group_by: list[Expr] = []
    where: Expr | None = None
    metrics: list[Metric] = []


# The fields of IR nodes that say where something is written, not what it is: what a
# program's meaning leaves out (run fingerprints, step fingerprints).
POSITION_FIELDS = frozenset(
    {
        "span",
        "name_span",
        "attr_span",
        "value_span",
        "provider_span",
        "model_id_span",
        "model_span",
        "target_span",
        "key_span",
        "trials_span",
        "budget_span",
        "anchors",
        "first_line",
    }
)


class Program(Node):
    file: str
    pipeline: PipelineDecl | None = None
    seed: int | None = None
    budget: Decimal | None = None
    budget_span: Span | None = None
    run: RunDecl | None = None
    consts: list[ConstDecl] = []
    models: list[ModelDecl] = []
    types: list[TypeDecl] = []
    units: list[UnitsDecl] = []
    steps: list[StepDecl] = []
    gates: list[GateDecl] = []
    reports: list[ReportDecl] = []
    # resolved by the checker
    order: list[str] = []
    unit_fields: list[UnitField] = []
    unit_count: int | None = None

    def step(self, name: str) -> StepDecl | None:
        for s in self.steps:
            if s.name == name:
                return s
        return None

    def dependents(self, name: str) -> set[str]:
        """The steps that read `name`'s output, directly or through others."""
        out: set[str] = set()
        frontier = [name]
        while frontier:
            current = frontier.pop()
            for step in self.steps:
                if current in step.depends_on and step.name not in out:
                    out.add(step.name)
                    frontier.append(step.name)
        return out

    def model(self, name: str) -> ModelDecl | None:
        for m in self.models:
            if m.name == name:
                return m
        return None
