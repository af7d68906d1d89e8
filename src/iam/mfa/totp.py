"""TOTP (RFC 6238) with pyotp: secrets, provisioning, and the code check with replay refusal."""

from __future__ import annotations

import hmac
import re
from datetime import datetime

import pyotp
import qrcode
import qrcode.image.svg

DIGITS = 6
WINDOW = 1  # time steps accepted either side of the current one (clock drift, typing time)
_CODE = re.compile(rf"[0-9]{{{DIGITS}}}")  # ASCII only (\d also takes other scripts)


def totp_secret_new() -> str:
    """A random 160-bit secret in base32 (what authenticator apps expect)."""
    return pyotp.random_base32()


def totp_uri(*, secret: str, account: str, issuer: str) -> str:
    return pyotp.TOTP(secret, digits=DIGITS).provisioning_uri(name=account, issuer_name=issuer)


def totp_qr_svg(uri: str) -> str:
    """The provisioning URI as an SVG QR code (no image library needed)."""
    image = qrcode.make(uri, image_factory=qrcode.image.svg.SvgPathImage)
    return image.to_string(encoding="unicode")


def totp_normalize(code: str) -> str:
    """Apps show codes as "123 456": spaces do not matter."""
    return "".join(code.split())


def looks_like_totp(code: str) -> bool:
    return bool(_CODE.fullmatch(totp_normalize(code)))


def totp_step_matching(
    *, secret: str, code: str, at: datetime, newer_than: int | None
) -> int | None:
    """The time step ``code`` is valid for, within ±``WINDOW`` steps of ``at``, if that step is
    newer than ``newer_than`` (the last accepted step: an accepted code never works again).

    Every candidate is computed and compared in constant time, whichever matches.
    """
    if not looks_like_totp(code):
        return None
    code = totp_normalize(code)
    totp = pyotp.TOTP(secret, digits=DIGITS)
    current = totp.timecode(at)
    matched = None
    for step in range(current - WINDOW, current + WINDOW + 1):
        if hmac.compare_digest(totp.generate_otp(step), code) and (
            newer_than is None or step > newer_than
        ):
            matched = step
    return matched
