"""The vanilla PyTorch backend: options (:mod:`.config`) and the backend (:mod:`.backend`)."""
