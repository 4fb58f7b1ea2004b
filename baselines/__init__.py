"""PyTorch baselines of goss-bench: the GST model (GOSS SegmenTor) and the paper's
variants (N-model + MSP / MaxLogit / DML, N+1-model, GST).

Entry points: ``python -m baselines.train`` and ``python -m baselines.evaluate``;
see ``baselines/README.md``.  Importing this package does not import torch;
the submodules that need it do.
"""

__all__: list[str] = []
