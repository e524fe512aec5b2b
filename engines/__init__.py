"""segstream engines: a model file in, a runnable ``Engine`` out (protocol, registry, sidecar
metadata, geometry transforms, backends, models with export and parity, the TensorRT builder)."""
