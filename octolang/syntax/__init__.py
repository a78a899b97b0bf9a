"""Source text -> parse tree -> IR. `parse_program` is the entry point."""

from octolang.syntax.lower import lower_tree
from octolang.syntax.parse import parse_program, parse_source

__all__ = ["lower_tree", "parse_program", "parse_source"]
