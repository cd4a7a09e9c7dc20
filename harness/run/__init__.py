"""One benchmark run: its typed config (:mod:`.config`), its steps (:mod:`.benchmark`), its
versioned report (:mod:`.report`) and the run directories (:mod:`.results`)."""
