"""The categories' colours (issue #74 item 7): the trend's resource and technical bars were
two near-identical blues. The palette is console.css's one block of custom properties; each
label's colour is held here to what a person reading the chart needs: every two of them
apart at a glance (CIEDE2000, the CIE's colour difference that follows the eye), each one
visible against the chart's background (WCAG 2.1's 3:1 for graphics, 1.4.11), and the tint
of it that tags and marks put behind text still distinct, with the ink readable on it
(4.5:1, 1.4.3).
"""

from __future__ import annotations

import itertools
import math
import re
from pathlib import Path

import pytest

from service.analysis.labels import LABELS

CSS = Path(__file__).resolve().parents[1] / "service" / "console" / "static" / "console.css"

MIN_APART = 20.0  # ΔE00 between two categories' colours: plainly different hues or depths
MIN_TINTS_APART = 12.0  # ΔE00 between two tints: distinct, if paler
MIN_GRAPHIC_CONTRAST = 3.0  # WCAG 1.4.11: a bar against the chart's background
MIN_TEXT_CONTRAST = 4.5  # WCAG 1.4.3: the ink on a tag's or a mark's tint


def custom_properties() -> dict[str, str]:
    """console.css's :root custom properties, by name without the dashes."""
    root = re.search(r":root\s*\{(.*?)\n\}", CSS.read_text(), re.DOTALL).group(1)
    root = re.sub(r"/\*.*?\*/", "", root, flags=re.DOTALL)
    return {name: value.strip()
            for name, value in re.findall(r"--([\w-]+)\s*:\s*([^;]+);", root)}


def rgb(hex_colour: str) -> tuple[int, int, int]:
    assert re.fullmatch(r"#[0-9a-fA-F]{6}", hex_colour), hex_colour
    return tuple(int(hex_colour[i:i + 2], 16) for i in (1, 3, 5))


def linear(channel: int) -> float:
    """An sRGB channel (0–255) as linear light."""
    c = channel / 255
    return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4


def luminance(colour: tuple[int, int, int]) -> float:
    """WCAG 2.1's relative luminance."""
    r, g, b = (linear(c) for c in colour)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(one, other) -> float:
    lighter, darker = sorted((luminance(one), luminance(other)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def lab(colour: tuple[int, int, int]) -> tuple[float, float, float]:
    """CIE L*a*b* (D65) of an sRGB colour."""
    r, g, b = (linear(c) for c in colour)
    xyz = (0.4124564 * r + 0.3575761 * g + 0.1804375 * b,
           0.2126729 * r + 0.7151522 * g + 0.0721750 * b,
           0.0193339 * r + 0.1191920 * g + 0.9503041 * b)

    def f(t: float) -> float:
        return t ** (1 / 3) if t > (6 / 29) ** 3 else t / (3 * (6 / 29) ** 2) + 4 / 29

    fx, fy, fz = (f(v / white) for v, white in zip(xyz, (0.95047, 1.0, 1.08883), strict=True))
    return 116 * fy - 16, 500 * (fx - fy), 200 * (fy - fz)


def ciede2000(lab1, lab2) -> float:
    """ΔE00 (Sharma, Wu and Dalal, 2005), kL = kC = kH = 1."""
    (l1, a1, b1), (l2, a2, b2) = lab1, lab2
    mean_c = (math.hypot(a1, b1) + math.hypot(a2, b2)) / 2
    g = 0.5 * (1 - math.sqrt(mean_c ** 7 / (mean_c ** 7 + 25 ** 7)))
    a1, a2 = (1 + g) * a1, (1 + g) * a2
    c1, c2 = math.hypot(a1, b1), math.hypot(a2, b2)
    h1 = math.degrees(math.atan2(b1, a1)) % 360 if c1 else 0.0
    h2 = math.degrees(math.atan2(b2, a2)) % 360 if c2 else 0.0
    dh = 0.0 if c1 * c2 == 0 else (h2 - h1 + 180) % 360 - 180
    d_l, d_c = l2 - l1, c2 - c1
    d_h = 2 * math.sqrt(c1 * c2) * math.sin(math.radians(dh / 2))
    mean_l, mean_c = (l1 + l2) / 2, (c1 + c2) / 2
    if c1 * c2 == 0:
        mean_h = h1 + h2
    elif abs(h1 - h2) <= 180:
        mean_h = (h1 + h2) / 2
    else:
        mean_h = (h1 + h2 + 360) / 2 if h1 + h2 < 360 else (h1 + h2 - 360) / 2
    t = (1 - 0.17 * math.cos(math.radians(mean_h - 30)) + 0.24 * math.cos(math.radians(2 * mean_h))
         + 0.32 * math.cos(math.radians(3 * mean_h + 6))
         - 0.20 * math.cos(math.radians(4 * mean_h - 63)))
    rotation = 30 * math.exp(-(((mean_h - 275) / 25) ** 2))
    r_c = 2 * math.sqrt(mean_c ** 7 / (mean_c ** 7 + 25 ** 7))
    s_l = 1 + 0.015 * (mean_l - 50) ** 2 / math.sqrt(20 + (mean_l - 50) ** 2)
    s_c, s_h = 1 + 0.045 * mean_c, 1 + 0.015 * mean_c * t
    r_t = -math.sin(math.radians(2 * rotation)) * r_c
    return math.sqrt((d_l / s_l) ** 2 + (d_c / s_c) ** 2 + (d_h / s_h) ** 2
                     + r_t * (d_c / s_c) * (d_h / s_h))


def tint(colour, paper, share: float) -> tuple[int, int, int]:
    """CSS's color-mix(in srgb, colour share, paper): each encoded channel mixed linearly."""
    return tuple(round(c * share + p * (1 - share)) for c, p in zip(colour, paper, strict=True))


@pytest.fixture(scope="module")
def palette() -> dict:
    properties = custom_properties()
    share = float(properties["tint"].rstrip("%")) / 100
    paper, ink = rgb(properties["paper"]), rgb(properties["ink"])
    colours = {label: rgb(properties[label]) for label in LABELS}
    return {"colours": colours, "paper": paper, "ink": ink,
            "tints": {label: tint(colour, paper, share) for label, colour in colours.items()}}


@pytest.mark.parametrize(("one", "other", "expected"), [  # Sharma et al.'s test data, pairs 1, 7, 17, 25
    ((50.0, 2.6772, -79.7751), (50.0, 0.0, -82.7485), 2.0425),
    ((50.0, 0.0, 0.0), (50.0, -1.0, 2.0), 2.3669),
    ((50.0, 2.5, 0.0), (73.0, 25.0, -18.0), 27.1492),
    ((60.2574, -34.0099, 36.2677), (60.4626, -34.1751, 39.4387), 1.2644),
])
def test_the_colour_difference_is_the_cies(one, other, expected):
    assert ciede2000(one, other) == pytest.approx(expected, abs=1e-4)
    assert ciede2000(other, one) == pytest.approx(expected, abs=1e-4)


def test_every_label_has_a_colour_and_every_two_are_apart_at_a_glance(palette):
    closest = min((ciede2000(lab(palette["colours"][a]), lab(palette["colours"][b])), a, b)
                  for a, b in itertools.combinations(LABELS, 2))
    assert closest[0] >= MIN_APART, closest


def test_each_colour_stands_out_against_the_charts_background(palette):
    weak = {label: round(contrast(colour, palette["paper"]), 2)
            for label, colour in palette["colours"].items()
            if contrast(colour, palette["paper"]) < MIN_GRAPHIC_CONTRAST}
    assert weak == {}


def test_the_tints_behind_text_are_apart_and_keep_the_ink_readable(palette):
    tints = palette["tints"]
    closest = min((ciede2000(lab(tints[a]), lab(tints[b])), a, b)
                  for a, b in itertools.combinations(LABELS, 2))
    assert closest[0] >= MIN_TINTS_APART, closest
    unreadable = {label: round(contrast(palette["ink"], colour), 2)
                  for label, colour in tints.items()
                  if contrast(palette["ink"], colour) < MIN_TEXT_CONTRAST}
    assert unreadable == {}


def test_the_checks_refuse_the_old_palettes_two_blues():
    """The palette before issue #74: resource #c9dcff and technical #d4d4ff, which the
    chart drew as one blue, and pastels a bar could not be told from the paper by."""
    resource, technical, white = rgb("#c9dcff"), rgb("#d4d4ff"), rgb("#ffffff")
    assert ciede2000(lab(resource), lab(technical)) < MIN_APART / 2
    assert contrast(resource, white) < MIN_GRAPHIC_CONTRAST


def test_the_stylesheet_draws_every_category_from_the_palette():
    """Each label's rule names its colour, and the chart, the swatches and the tints read
    that one variable: no colour of a category is written twice."""
    css = CSS.read_text()
    for label in LABELS:
        assert f'[data-category="{label}"] {{ --category: var(--{label}); }}' in css, label
    assert ".trend-chart .bar { fill: var(--category" in css
    assert "color-mix(in srgb, var(--category) var(--tint), var(--paper))" in css
    outside_root = css.split("\n}", 1)[1]
    for label in LABELS:
        assert not re.search(rf"--{label}\s*:", outside_root), label
