"""Colour families and the looks of cars and people, drawn from a seeded generator."""

from __future__ import annotations

import cv2
import numpy as np

from streetsim.chance import jitter_colour, pick

CAR_COLOURS = ((235, 235, 235), (30, 30, 32), (185, 185, 180), (115, 115, 112), (40, 40, 170), (150, 75, 30),
               (95, 45, 25), (60, 110, 45), (40, 195, 225), (150, 180, 200), (40, 60, 90), (30, 115, 225),
               (80, 80, 85), (200, 200, 205))
BUS_COLOURS = ((40, 40, 190), (30, 190, 230), (160, 90, 30), (220, 220, 220), (60, 140, 40), (40, 110, 230))
CLOTHES = ((30, 30, 30), (60, 40, 30), (120, 60, 20), (40, 40, 140), (200, 200, 200), (60, 100, 60), (110, 110, 110),
           (40, 80, 160), (130, 40, 100), (30, 160, 200), (170, 130, 90), (90, 60, 50))
SKIN = ((90, 120, 170), (120, 160, 210), (60, 90, 130), (140, 180, 225), (45, 65, 100))
SIGNS = (  # (shape, rim, inner, symbol)
    ("circle", (30, 30, 200), (235, 235, 235), (30, 30, 30)),
    ("circle", (170, 90, 20), (175, 95, 25), (240, 240, 240)),
    ("triangle", (30, 30, 200), (235, 235, 235), (30, 30, 30)),
    ("triangle_down", (30, 30, 200), (235, 235, 235), None),
    ("square", (170, 90, 20), (175, 95, 25), (240, 240, 240)),
    ("diamond", (30, 30, 30), (30, 200, 240), None),
    ("octagon", (35, 35, 200), (35, 35, 200), (240, 240, 240)),
    ("rect", (60, 120, 20), (70, 130, 30), (240, 240, 240)),
    ("rect", (150, 80, 20), (160, 90, 25), (240, 240, 240)),
)


def building_colour(rng: np.random.Generator):
    fam = int(rng.integers(0, 6))
    if fam == 0:  # concrete / render
        g = rng.uniform(110, 200)
        return jitter_colour(rng, (g, g, g), 10)
    if fam == 1:  # brick
        return jitter_colour(rng, (55, 75, 140), 20)
    if fam == 2:  # sandstone / beige
        return jitter_colour(rng, (140, 175, 200), 20)
    if fam == 3:  # pastel
        hue = rng.uniform(0, 180)
        hsv = np.array([[[hue, rng.uniform(30, 90), rng.uniform(150, 230)]]], dtype=np.uint8)
        c = cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)[0, 0]
        return tuple(float(v) for v in c)
    if fam == 4:  # dark
        g = rng.uniform(45, 90)
        return jitter_colour(rng, (g + 5, g, g), 8)
    return jitter_colour(rng, (120, 110, 95), 25)  # glass-and-steel grey-blue


def green(rng: np.random.Generator, terrain: bool = False):
    if terrain:
        fam = rng.random()
        if fam < 0.6:
            return jitter_colour(rng, (55, 140, 100), 25)
        if fam < 0.85:
            return jitter_colour(rng, (70, 150, 160), 20)  # dry grass
        return jitter_colour(rng, (70, 100, 125), 15)  # earth
    if rng.random() < 0.85:
        return jitter_colour(rng, (45, 110, 60), 25)
    return jitter_colour(rng, (40, 110, 150), 20)  # autumn


def car_style(rng: np.random.Generator) -> tuple[str, tuple[float, float, float]]:
    style = pick(rng, ("sedan", "hatch", "suv", "van"), (0.45, 0.25, 0.18, 0.12))
    if style == "van":
        return style, (float(rng.uniform(4.6, 5.3)), float(rng.uniform(1.85, 2.0)), float(rng.uniform(1.9, 2.3)))
    if style == "suv":
        return style, (float(rng.uniform(4.3, 4.9)), float(rng.uniform(1.8, 1.95)), float(rng.uniform(1.62, 1.85)))
    if style == "hatch":
        return style, (float(rng.uniform(3.7, 4.3)), float(rng.uniform(1.68, 1.8)), float(rng.uniform(1.42, 1.55)))
    return style, (float(rng.uniform(4.3, 4.9)), float(rng.uniform(1.72, 1.88)), float(rng.uniform(1.38, 1.5)))


def person_attrs(rng: np.random.Generator):
    child = rng.random() < 0.07
    h = float(rng.uniform(1.15, 1.45) if child else rng.uniform(1.55, 1.95))
    return dict(h=h, skin=jitter_colour(rng, pick(rng, SKIN), 10), shirt=jitter_colour(rng, pick(rng, CLOTHES), 20),
                pants=jitter_colour(rng, pick(rng, CLOTHES[:8]), 15),
                hair=jitter_colour(rng, pick(rng, ((20, 20, 25), (30, 50, 80), (60, 110, 160), (150, 150, 150))), 10),
                bag=jitter_colour(rng, pick(rng, CLOTHES), 10) if rng.random() < 0.3 else None)
