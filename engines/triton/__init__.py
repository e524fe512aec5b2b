"""Triton Inference Server: model repositories for it (``repository``, ``cli``: ``segstream
triton-repo``) and what the ``triton`` engine backend needs to talk to one (``address``).

The engine itself is ``engines.backends.triton``. Nothing here imports tritonclient at import time.
"""
