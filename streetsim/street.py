"""The street's cross-section, drawn once per seed: lanes, parking, kerbs, verges, sidewalks, theme."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from streetsim.chance import jitter_colour, pick
from streetsim.palette import green


@dataclass
class Side:
    s: int  # -1 left, +1 right
    R: float  # road edge (kerb) distance from the centre line
    kerb: float  # kerb height
    verge: float  # grass strip between kerb and sidewalk (0 = none)
    walk: float  # sidewalk width
    parking: bool
    walk_col: tuple
    verge_col: tuple
    kerb_col: tuple

    @property
    def edge(self) -> float:
        return self.R + self.verge + self.walk


@dataclass
class Street:
    lanes: int
    lane_w: float
    sides: dict[int, Side]
    road_col: tuple
    mark_col: tuple
    centre_col: tuple
    centre_style: str  # dashed | solid | double
    edge_lines: bool
    dash: tuple[float, float]  # dash length, period
    crosswalk_every: int  # blocks (0: none)
    density_build: float
    density_tree: float
    density_people: float
    density_parked: float
    build_h: tuple[float, float]
    terrain_col: tuple
    lamp_spacing: float
    lamp_phase: dict[int, float]
    lamp_h: float
    lamp_w: float
    lamp_arm: float
    lamp_col: tuple
    tree_spacing: float
    cross_p: float = 0.0  # chance that a block starts with a side street


def make_street(rng: np.random.Generator) -> Street:
    theme = pick(rng, ("urban", "suburban", "green"), (0.5, 0.35, 0.15))
    lanes = int(pick(rng, (1, 1, 2)))
    lane_w = float(rng.uniform(3.0, 3.7))
    g = rng.uniform(55, 125)
    road_col = jitter_colour(rng, (g + 3, g, g - 2), 6)
    walk_fam = rng.random()
    if walk_fam < 0.45:
        w = rng.uniform(130, 195)
        walk_col = jitter_colour(rng, (w, w, w), 8)
    elif walk_fam < 0.75:
        walk_col = jitter_colour(rng, (135, 160, 180), 20)
    else:
        walk_col = jitter_colour(rng, (100, 110, 150), 20)
    terrain_col = green(rng, terrain=True)
    sides = {}
    for s in (-1, 1):
        parking = bool(rng.random() < (0.6 if theme == "urban" else 0.4))
        R = lanes * lane_w + (2.2 if parking else 0.0)
        verge = 0.0 if rng.random() < (0.7 if theme == "urban" else 0.35) else float(rng.uniform(1.2, 3.5))
        sides[s] = Side(s=s, R=R, kerb=float(rng.uniform(0.1, 0.18)), verge=verge, walk=float(rng.uniform(2.0, 4.8)),
                        parking=parking, walk_col=jitter_colour(rng, walk_col, 8),
                        verge_col=jitter_colour(rng, terrain_col, 10),
                        kerb_col=jitter_colour(rng, (170, 170, 170), 25))
    dens = {"urban": (0.92, 0.3, 1.0), "suburban": (0.6, 0.7, 0.6), "green": (0.3, 1.0, 0.45)}[theme]
    hmin = {"urban": 9.0, "suburban": 6.0, "green": 5.0}[theme]
    hmax = {"urban": 32.0, "suburban": 14.0, "green": 12.0}[theme]
    arm = float(rng.uniform(1.0, 2.2)) if rng.random() < 0.75 else 0.0
    return Street(
        lanes=lanes, lane_w=lane_w, sides=sides, road_col=road_col,
        mark_col=jitter_colour(rng, (225, 225, 225), 15),
        centre_col=(40, 190, 225) if rng.random() < 0.3 else (225, 225, 225),
        centre_style=pick(rng, ("dashed", "solid", "double"), (0.55, 0.2, 0.25)), edge_lines=bool(rng.random() < 0.5),
        dash=(float(rng.uniform(2.0, 4.0)), float(rng.uniform(7.0, 12.0))),
        crosswalk_every=int(pick(rng, (0, 2, 3, 5))),
        density_build=dens[0], density_tree=dens[1], density_people=float(dens[2] * rng.uniform(0.4, 1.3)),
        density_parked=float(rng.uniform(0.35, 0.85)), build_h=(hmin, hmax), terrain_col=terrain_col,
        lamp_spacing=float(rng.uniform(18, 32)), lamp_phase={-1: float(rng.uniform(0, 40)), 1: float(rng.uniform(0, 40))},
        lamp_h=float(rng.uniform(6.0, 9.0)), lamp_w=float(rng.uniform(0.26, 0.4)), lamp_arm=arm,
        lamp_col=(jitter_colour(rng, (120, 120, 118), 40) if rng.random() < 0.7
                  else jitter_colour(rng, (50, 60, 45), 10)),
        tree_spacing=float(rng.uniform(7, 14)),
        cross_p=0.0 if rng.random() < 0.3 else float(rng.uniform(0.15, 0.45)),
    )
