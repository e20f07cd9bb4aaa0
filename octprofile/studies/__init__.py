"""One module per use case (compare, sweep, ablate, layers, coverage, blocks, explain, check, counters, train,
reports), each holding its computation over a ``Subject``, its typed rows and result, its columns, and its table,
footer and plot. ``subject`` and ``variants`` sit beneath them; ``octprofile.study.Study`` is the facade."""
