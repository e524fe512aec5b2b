"""``python -m engines.build MODEL.onnx``: build (or reuse) a TensorRT engine."""

from engines.build.cli import main

raise SystemExit(main())
