"""Measuring a model on labelled data the way the pipeline runs it.

Every image takes the pipeline's own path: ``transforms.fit`` (stretch to the model's input size)
→ ``transforms.to_input`` → the engine → ``transforms.to_class_maps`` → ``transforms.restore_class_map``
(nearest, to the label's full size) → confusion matrix against the full-resolution labels.

* ``predictor``: a model file opened through ``engines.registry.open_engine`` (ONNX, TensorRT, a
  ``.pt`` with or without a sidecar) as a ``Predictor``;
* ``samples``: a dataset sample fitted to the model's input (``Prepared``);
* ``scoring``: predictions accumulated into confusion matrices (``evaluate_samples``), which the
  trainer's validation calls too, so a validation mIoU and an evaluator mIoU are the same number;
* ``report``: one evaluation as the JSON report (``evaluate``); ``training.evaluate`` is its command.
"""
