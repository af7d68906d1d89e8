"""The IAM's PyJWT codec (``iam.tokens.backend``) answers exactly as PyJWT does: the segment
decoding that skips PyJWT's per-character loop, and the HS256 key preparation kept per secret.
Each is checked against PyJWT's own code on the same input, and attacked where PyJWT refuses."""

from __future__ import annotations

import hashlib
import itertools
import json
import random
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import HMACAlgorithm
from jwt.api_jws import PyJWS
from jwt.exceptions import DecodeError, InvalidAlgorithmError, InvalidKeyError

from iam.tokens import backend
from iam.tokens.backend import _JWS, _codec, _PreparedHMAC
from iam.tokens.tokens import RefreshToken

# the base64url alphabet's edges, padding, and what a lenient decoder would skip or mistake
SYMBOLS = [b"A", b"z", b"0", b"-", b"_", b"=", b"!", b"+", b"/", b" "]


def answer(decode: Any, segment: bytes) -> tuple[str, Any]:
    try:
        return ("decoded", decode(segment, "payload"))
    except DecodeError as exc:
        return ("refused", str(exc))


def test_every_short_segment_gets_pyjwts_answer() -> None:
    """Every segment of up to five of these symbols: 111,111 of them."""
    for length in range(6):
        for symbols in itertools.product(SYMBOLS, repeat=length):
            segment = b"".join(symbols)
            ours = answer(_JWS._decode_base64url_segment, segment)
            assert ours == answer(PyJWS._decode_base64url_segment, segment), segment


def test_long_segments_and_tampered_tokens_get_pyjwts_answer(tokens: dict[str, str]) -> None:
    rng = random.Random(17)
    alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    segments = [s.encode() for kind in ("access", "refresh") for s in tokens[kind].split(".")]
    for _ in range(2000):
        segment = bytearray(rng.choice(segments))
        for _ in range(rng.randint(0, 2)):  # one or two characters changed, added or dropped
            at = rng.randrange(len(segment) + 1)
            change = rng.choice(["set", "insert", "drop"])
            symbol = rng.choice([*SYMBOLS, bytes([rng.choice(alphabet)]), b"\xff", b"\n"])
            if change == "insert" or at == len(segment):
                segment[at:at] = symbol
            elif change == "set":
                segment[at : at + 1] = symbol
            else:
                del segment[at]
        segment += b"=" * rng.choice([0, 0, 0, 1, 2, 3])
        ours = answer(_JWS._decode_base64url_segment, bytes(segment))
        assert ours == answer(PyJWS._decode_base64url_segment, bytes(segment)), bytes(segment)


def test_the_iam_decodes_through_the_codec(
    tokens: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[bytes] = []
    fast = _JWS._decode_base64url_segment

    def spy(segment: bytes, name: str) -> bytes:
        seen.append(segment)
        return fast(segment, name)

    monkeypatch.setattr(_JWS, "_decode_base64url_segment", staticmethod(spy))
    RefreshToken(tokens["refresh"])
    assert seen == [s.encode() for s in tokens["refresh"].split(".")]


def _counting_parent(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    calls: list[Any] = []
    parent = HMACAlgorithm.prepare_key

    def counted(self: Any, key: Any) -> Any:
        calls.append(key)
        return parent(self, key)

    monkeypatch.setattr(HMACAlgorithm, "prepare_key", counted)
    return calls


def test_a_secret_is_prepared_once(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _counting_parent(monkeypatch)
    hmac = _PreparedHMAC()
    first, second = b"s" * 32, b"t" * 32
    assert hmac.prepare_key(first) == first
    assert hmac.prepare_key(first) == first
    assert hmac.prepare_key(second) == second
    assert calls == [first, second]
    assert hmac._passed == {hashlib.sha256(first).digest(), hashlib.sha256(second).digest()}
    assert hmac.prepare_key("text secret") == b"text secret"  # not bytes: PyJWT's path each time
    assert calls[-1] == "text secret"


def _public_pem() -> bytes:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


@pytest.mark.parametrize(
    "not_a_secret",
    [
        pytest.param(_public_pem, id="RSA public key (PEM)"),
        pytest.param(lambda: json.dumps({"kty": "oct", "k": "c2VjcmV0"}).encode(), id="a JWK"),
        pytest.param(lambda: b"", id="empty"),
    ],
)
def test_what_pyjwt_refuses_as_a_secret_is_refused_every_time(not_a_secret: Any) -> None:
    """The algorithm-confusion guard: a public key (or a JWK) used as an HMAC secret."""
    hmac = _PreparedHMAC()
    key = not_a_secret()
    for _ in range(2):
        with pytest.raises(InvalidKeyError):
            hmac.prepare_key(key)
    assert hmac._passed == set()


def test_the_memo_stays_bounded() -> None:
    hmac = _PreparedHMAC()
    for i in range(hmac.MAX_SECRETS * 3):
        hmac.prepare_key(i.to_bytes(32, "big"))
        assert len(hmac._passed) <= hmac.MAX_SECRETS


def test_the_codec_knows_the_iams_two_algorithms_only() -> None:
    assert set(_codec._jws._algorithms) == {backend.ALGORITHM, backend.REFRESH_ALGORITHM}
    assert type(_codec._jws) is _JWS
    assert isinstance(_codec._jws._algorithms[backend.REFRESH_ALGORITHM], _PreparedHMAC)
    token = _codec.encode({"sub": "x"}, b"k" * 32, algorithm="HS256")
    with pytest.raises(InvalidAlgorithmError):
        _codec.decode_complete(token, b"k" * 32, algorithms=["HS512"])
    with pytest.raises(NotImplementedError):
        _codec.encode({"sub": "x"}, b"k" * 32, algorithm="HS512")
