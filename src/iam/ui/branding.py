"""The pages' look, from the settings: product name, logo and colours.

Colours are validated here (and by the system checks) so that nothing but a hex colour reaches the
pages' style sheet; the text drawn on each colour is chosen for contrast (WCAG 2 relative
luminance), so an operator's brand colour cannot make the buttons unreadable.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from iam.core.conf import iam_settings

HEX_COLOR = re.compile(r"#(?:[0-9a-fA-F]{3}){1,2}")
DARK_TEXT = "#111827"
LIGHT_TEXT = "#ffffff"


def color_parse(value: str) -> tuple[int, int, int] | None:
    """``#rgb`` or ``#rrggbb`` as an RGB triple; None for anything else."""
    if not HEX_COLOR.fullmatch(value):
        return None
    digits = value[1:]
    if len(digits) == 3:
        digits = "".join(c * 2 for c in digits)
    return int(digits[0:2], 16), int(digits[2:4], 16), int(digits[4:6], 16)


def _luminance(rgb: tuple[int, int, int]) -> float:
    def channel(c: int) -> float:
        s = c / 255
        return s / 12.92 if s <= 0.04045 else ((s + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(c) for c in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast_ratio(a: str, b: str) -> float:
    """WCAG 2 contrast ratio of two hex colours (1 to 21)."""
    la, lb = (_luminance(color_parse(c) or (0, 0, 0)) for c in (a, b))
    hi, lo = max(la, lb), min(la, lb)
    return (hi + 0.05) / (lo + 0.05)


def text_on(background: str) -> str:
    """The more readable of dark and white text on ``background``."""
    if contrast_ratio(background, LIGHT_TEXT) >= contrast_ratio(background, DARK_TEXT):
        return LIGHT_TEXT
    return DARK_TEXT


@dataclass(frozen=True, slots=True)
class Branding:
    product_name: str
    logo_url: str
    primary: str
    on_primary: str
    background: str
    on_background: str


def branding() -> Branding:
    primary = iam_settings.ui_color_primary
    background = iam_settings.ui_color_background
    return Branding(
        product_name=iam_settings.product_name,
        logo_url=iam_settings.ui_logo_url,
        primary=primary,
        on_primary=text_on(primary),
        background=background,
        on_background=text_on(background),
    )
