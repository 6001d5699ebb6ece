"""Editor support: the Pygments lexer, layer signatures, and the language server.

Everything here reads the grammar's terminals and the op registry, so a new
construct or layer reaches the editors without a list to update. Nothing here
imports torch.
"""
