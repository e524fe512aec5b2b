"""Sizes written as text: one parser for ``AxB``.

Two orders are in use, each where its field is the convention: model input sizes are
``HEIGHTxWIDTH`` (tensor order: ``--input-size 256x512``), video frame sizes are
``WIDTHxHEIGHT`` (``synthetic://street?size=1280x720``). Both go through ``parse_pair``.
"""

from __future__ import annotations

__all__ = ["hw_argument", "parse_hw", "parse_pair", "parse_wh", "wh_argument"]


def parse_pair(text: str, *, names: tuple[str, str], example: str) -> tuple[int, int]:
    """``"AxB"`` → (A, B), both positive integers; ValueError (one line, with ``example``) otherwise."""
    first, sep, second = str(text).strip().lower().partition("x")
    try:
        pair = (int(first), int(second))
    except ValueError:
        pair = (0, 0)
    if not sep or min(pair) <= 0:
        raise ValueError(f"size {text!r} is not {names[0]}x{names[1]} with positive integers, e.g. {example}")
    return pair


def parse_hw(text: str) -> tuple[int, int]:
    """``"256x512"`` → (height, width)."""
    return parse_pair(text, names=("HEIGHT", "WIDTH"), example="256x512")


def parse_wh(text: str) -> tuple[int, int]:
    """``"1280x720"`` → (width, height)."""
    return parse_pair(text, names=("WIDTH", "HEIGHT"), example="1280x720")


def hw_argument(text: str) -> tuple[int, int]:
    """``parse_hw`` for argparse's ``type=``: its message becomes the usage error as written."""
    import argparse

    try:
        return parse_hw(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def wh_argument(text: str) -> tuple[int, int]:
    """``parse_wh`` for argparse's ``type=``."""
    import argparse

    try:
        return parse_wh(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
