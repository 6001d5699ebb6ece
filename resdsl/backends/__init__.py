"""Back ends: a checked graph to PyTorch source, an ``nn.Module``, or a diagram."""
