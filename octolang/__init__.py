"""octolang: a language and runtime for LLM batch pipelines and Monte Carlo simulations."""

__version__ = "0.1.0"
