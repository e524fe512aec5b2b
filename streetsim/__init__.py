"""The procedural street world: synthetic driving and surveillance video with per-pixel labels.

``StreetScene(SyntheticSpec.from_uri("synthetic://street?seed=7&frames=300")).render(i)`` gives
frame ``i`` (BGR uint8) and its Cityscapes train-ID labels (uint8, 255 = ignore), a pure function
of (spec, i). NumPy and OpenCV only; imports nothing of segstream but ``segcore``. Used by the
pipeline's synthetic source, by training and evaluation, and by the benchmarks. See
docs/synthetic-data.md; ``python -m streetsim`` previews or times it.
"""

from streetsim.labels import CLASSES, REQUIRED_CLASSES
from streetsim.scene import GENERATOR_VERSION, StreetScene
from streetsim.spec import SyntheticSpec

__all__ = ["CLASSES", "GENERATOR_VERSION", "REQUIRED_CLASSES", "StreetScene", "SyntheticSpec"]
