"""The front end's second stage: an AST elaborated into a graph (binding, scopes, skips)."""
