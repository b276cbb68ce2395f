"""Host side: SSD detectors in PyTorch, datasets, training, evaluation and OpenVINO IR export.

Torch lives here and only here; `agent/` never imports this package.
"""
