"""The OpenVINO backend: options (:mod:`.config`), IR conversion (:mod:`.ir`), NNCF INT8
(:mod:`.quantization`) and the backend itself (:mod:`.backend`)."""
