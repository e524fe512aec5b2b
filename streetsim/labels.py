"""The Cityscapes train IDs the generator draws, and the sizes below which an object is not scored."""

from __future__ import annotations

# Cityscapes train IDs
ROAD, SIDEWALK, BUILDING, WALL, FENCE, POLE, LIGHT, SIGN, VEGETATION, TERRAIN, SKY = range(11)
PERSON, RIDER, CAR, TRUCK, BUS = 11, 12, 13, 14, 15
IGNORE = 255

# Smallest size, in pixels of a 1280-wide frame, at which an object is labelled as its class; smaller
# ones are drawn but labelled IGNORE. The bundled models see frames shrunk to 512×256, where one
# model pixel covers 2.5 × 2.8 of these pixels and the finest LR-ASPP features have a stride of 8
# model pixels: below these sizes (4 model pixels of pole, 6 of sign plate, 16 of person height,
# 8 of vehicle height) an object is not resolvable, and scoring it would measure the input size,
# not the model.
RESOLVABLE_PX = {"pole_width": 10.0, "sign_size": 15.0, "person_height": 45.0, "vehicle_height": 22.0}

# classes the generator draws (Cityscapes train IDs)
CLASSES = (0, 1, 2, 5, 7, 8, 9, 10, 11, 13, 14, 15)
REQUIRED_CLASSES = CLASSES
