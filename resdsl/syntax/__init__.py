"""The front end's first stage: source text to a checked AST (grammar, parser, ``use``)."""
