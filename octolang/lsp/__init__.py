"""The language server (`octoc lsp`): the checker's diagnostics as you type, hover, go to
definition, completion and document symbols, over the Language Server Protocol.

`server.py` is the only module that speaks the protocol (pygls); the features are pure
functions of an `Analysis` (a compiled document) and a position, so they are tested
without a client. `incremental.py` recompiles only the declarations an edit touched.
"""
