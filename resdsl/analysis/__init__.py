"""Analyses of a checked graph: the questions people ask about skip connections.

One module per question (see ``docs/skip-connections.md``):

- :mod:`resdsl.analysis.paths` -- how many input-to-output paths a network
  has and how many activations and weighted layers each crosses, counted by
  dynamic programming (Veit et al. 2016: residual networks as ensembles).
  Pure: no torch.
- :mod:`resdsl.analysis.compare` -- a model beside its plain twin: depth,
  parameters (and what the shortcuts cost), MACs. Pure: no torch.
- :mod:`resdsl.analysis.gradflow` -- per-layer gradient norms at
  initialisation, model against plain twin (imports torch when called).
- :mod:`resdsl.analysis.identity` -- which residual blocks start as an exact
  identity (zero-init, ``gate=rezero``), checked numerically (imports torch
  when called).

Each takes checked graphs (from :meth:`resdsl.Spec.graph`), never a spec.
The ones that run a model run the module that ``compile`` builds
(:func:`resdsl.backends.build.compile_graph`), not a second interpreter of the
graph. Importing this package imports none of them, and nothing here imports
torch at module level.
"""

from __future__ import annotations
