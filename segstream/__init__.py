"""The ``segstream`` command: ``segstream [SOURCE ...]`` runs the pipeline; ``segstream train``,
``eval``, ``export``, ``build`` and ``models`` run the tools of the other packages. The top of the
dependency graph: nothing imports it (``run_stream.py`` is a thin script over it)."""
