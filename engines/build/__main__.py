"""``python -m engines.build MODEL.onnx``: build (or reuse) a TensorRT engine."""

from engines.build.builder import main

raise SystemExit(main())
