"""Reading SQL text: statements split as a client does (:mod:`.splitter`), what each one does
and the locks it takes (:mod:`.reader`, :mod:`.locks`). The only place the package reads SQL."""
