"""The appearance of a whole scene, drawn once per seed: time of day, weather, light, sky, sensor."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from streetsim.chance import jitter_colour, pick


@dataclass
class Look:
    tod: str  # day | dusk | night
    weather: str  # clear | overcast | fog | rain
    light: float
    wb: tuple[float, float, float]
    fog_k: float
    fog: tuple[float, float, float]
    sky_zenith: tuple[float, float, float]
    sky_horizon: tuple[float, float, float]
    clouds: float
    noise: float  # sensor noise sigma (grey levels)
    blur_p: float
    jpeg_p: float
    rain: float
    skyline: bool
    saturation: float
    sun: tuple[float, float, float, float] | None = None  # shadow direction x, z; cot(elevation); darkness

    @property
    def night(self) -> bool:
        return self.tod == "night"


def make_look(rng: np.random.Generator) -> Look:
    tod = pick(rng, ("day", "dusk", "night"), (0.55, 0.2, 0.25))
    weather = pick(rng, ("clear", "overcast", "fog", "rain"), (0.45, 0.25, 0.15, 0.15))
    if tod == "day":
        light = rng.uniform(0.85, 1.15)
        wb = (rng.uniform(0.9, 1.12), rng.uniform(0.95, 1.05), rng.uniform(0.9, 1.1))
        zen = jitter_colour(rng, (215, 150, 85), 25)
        hor = jitter_colour(rng, (240, 220, 200), 15)
    elif tod == "dusk":
        light = rng.uniform(0.5, 0.75)
        wb = (rng.uniform(0.7, 0.9), rng.uniform(0.85, 1.0), rng.uniform(1.05, 1.25))
        zen = jitter_colour(rng, (130, 80, 70), 25)
        hor = jitter_colour(rng, (100, 160, 235), 25)
    else:
        light = rng.uniform(0.26, 0.42)
        wb = (rng.uniform(0.7, 1.1), rng.uniform(0.85, 1.0), rng.uniform(0.9, 1.3))
        zen = jitter_colour(rng, (35, 20, 15), 10)
        hor = jitter_colour(rng, (60, 60, 75), 20)
    fog_k = rng.uniform(1 / 900, 1 / 400)
    clouds = rng.uniform(0.0, 0.7)
    rain = 0.0
    if weather == "overcast":
        light *= 0.8
        g = rng.uniform(150, 215) * (light if tod != "day" else 1.0)
        zen = jitter_colour(rng, (g + 8, g + 3, g), 6)
        hor = jitter_colour(rng, (g + 25, g + 22, g + 20), 6)
        clouds = rng.uniform(0.3, 0.8)
    elif weather == "fog":
        light *= 0.85
        fog_k = rng.uniform(1 / 90, 1 / 30)
        clouds = 0.0
    elif weather == "rain":
        light *= 0.8
        fog_k = rng.uniform(1 / 250, 1 / 100)
        rain = rng.uniform(0.4, 1.0)
        g = rng.uniform(120, 180) * (0.35 if tod == "night" else (0.7 if tod == "dusk" else 1.0))
        zen = jitter_colour(rng, (g + 5, g, g - 5), 5)
        hor = jitter_colour(rng, (g + 20, g + 15, g + 12), 5)
        clouds = rng.uniform(0.3, 0.7)
    sun = None
    if weather == "clear" and tod != "night":
        az = rng.uniform(0, 2 * np.pi)
        elev = rng.uniform(0.4, 1.1) if tod == "day" else rng.uniform(0.15, 0.35)
        sun = (float(np.cos(az)), float(np.sin(az)), float(1 / np.tan(elev)), float(rng.uniform(0.45, 0.7)))
    fog = tuple(0.6 * h + 0.4 * z for h, z in zip(hor, zen, strict=True))
    if weather == "fog":
        zen = tuple(0.8 * f + 0.2 * z for f, z in zip(fog, zen, strict=True))
        hor = fog
    noise = rng.uniform(1.5, 5.0) * (2.0 if tod == "night" else 1.0)
    return Look(tod=tod, weather=weather, light=float(light), wb=(float(wb[0]), float(wb[1]), float(wb[2])),
                fog_k=float(fog_k), fog=(float(fog[0]), float(fog[1]), float(fog[2])), sky_zenith=zen, sky_horizon=hor, clouds=float(clouds),
                noise=float(noise), blur_p=float(rng.uniform(0.05, 0.4)), jpeg_p=float(rng.uniform(0.03, 0.15)),
                rain=float(rain), skyline=bool(rng.random() < 0.45 and weather != "fog"),
                saturation=float(rng.uniform(0.55, 1.3)), sun=sun)
