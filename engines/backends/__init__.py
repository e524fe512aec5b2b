"""Engine backends. Import them through ``engines.registry``, never directly at import time."""
