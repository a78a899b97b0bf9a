"""`octoc lsp`: the language server, over stdin and stdout (see octolang/lsp/)."""

from __future__ import annotations

import click

from octolang.cli_base import allow_outside_option, file_access, main


@main.command()
@click.option("--stdio", is_flag=True, help="Talk over stdin/stdout (the default and only transport; editors pass it).")
@allow_outside_option
def lsp(stdio: bool, allow_outside: tuple[str, ...]) -> None:
    """Run the language server for editors: diagnostics, hover, definition, completion, outline,
    quick fixes, references, rename, formatting. Example: octoc lsp --stdio"""
    del stdio  # accepted because VS Code's client adds it
    access = file_access(allow_outside)
    from octolang.lsp.server import serve

    serve(access)
