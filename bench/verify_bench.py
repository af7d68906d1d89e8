"""Access-token verification cost: iam-client's Verifier against PyJWT and a raw RSA verify.

    python bench/verify_bench.py --iterations 2000 --rounds 9 --output bench/var/verify.json

Needs the ``iam-client`` package installed (``pip install -e packages/iam-client``). One RSA
key, one IAM-shaped user access token (tenant claims included), measured in the same process:

  raw       ``cryptography`` RSA PKCS#1 v1.5 / SHA-256 verify of the signing input
            (signature already decoded, padding and hash objects built once)
  floor     the least any verifier must do with a token it has not seen: split it, decode
            the signature, verify, base64-decode and ``json.loads`` the payload (no checks)
  pyjwt     ``jwt.decode(token, key_object, algorithms=["RS256"], audience=..., issuer=...)``
  verifier  ``Verifier.verify`` with ``cache_size=0``: every call verifies from scratch
            (parse, signature, claims, Principal)
  cached    ``Verifier.verify`` of the same token again: a cache hit
  reference ``Verifier.verify_with_pyjwt`` (the PyJWT-based path, for comparison)

Each round times ``--iterations`` calls of every case (in a rotating order, after a warm-up)
with ``time.perf_counter_ns``; the figures are medians over ``--rounds`` rounds. Ratios are
taken per round against ``raw`` of the same round, then the median, so machine noise hits
numerator and denominator alike. Compare ratios, not absolute numbers across machines.
"""

from __future__ import annotations

import argparse
import base64
import json
import platform
import statistics
import sys
import time
import uuid
from pathlib import Path

import cryptography
import iam_client
import jwt
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from iam_client import Verifier

ISSUER = "https://iam.example.com"
AUDIENCE = "iam-api"
KID = "bench-key"


def make_token(private_key: rsa.RSAPrivateKey) -> str:
    now = int(time.time())
    claims = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": str(uuid.uuid4()),
        "exp": now + 3600,
        "iat": now,
        "jti": uuid.uuid4().hex,
        "token_type": "access",
        "sid": str(uuid.uuid4()),
        "email": "bench@example.com",
        "email_verified": True,
        "amr": ["pwd"],
        "auth_time": now,
        "is_staff": False,
        "tid": str(uuid.uuid4()),
        "tenant": "acme",
        "roles": ["admin"],
        "perms": ["billing.read", "members.invite", "members.read", "roles.read"],
    }
    return jwt.encode(claims, private_key, algorithm="RS256", headers={"kid": KID, "typ": "at+jwt"})


def build_cases(key_size: int) -> dict:
    private_key = rsa.generate_private_key(public_exponent=65537, key_size=key_size)
    public_key = private_key.public_key()
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(public_key))
    jwk.update(kid=KID, use="sig", alg="RS256")
    jwks = {"keys": [jwk]}
    token = make_token(private_key)

    header_b64, payload_b64, signature_b64 = token.split(".")
    signing_input = f"{header_b64}.{payload_b64}".encode()
    signature = jwt.utils.base64url_decode(signature_b64)
    pkcs1v15, sha256 = padding.PKCS1v15(), hashes.SHA256()

    uncached = Verifier(ISSUER, AUDIENCE, cache_size=0, http_fetch=lambda url: jwks)
    cached = Verifier(ISSUER, AUDIENCE, http_fetch=lambda url: jwks)

    # every case must succeed on this token, and agree on what it says
    public_key.verify(signature, signing_input, pkcs1v15, sha256)
    decoded = jwt.decode(token, public_key, algorithms=["RS256"], audience=AUDIENCE, issuer=ISSUER)
    principal = uncached.verify(token)
    assert principal == cached.verify(token) == uncached.verify_with_pyjwt(token)
    assert principal.user_id == decoded["sub"]
    assert principal.perms == set(decoded["perms"])
    assert cached.cached_tokens == 1
    assert uncached.cached_tokens == 0

    def parse_floor() -> dict:
        """The least any verifier does: split, decode the signature, verify, decode the payload."""
        head, payload, sig = token.encode("ascii").split(b".")
        public_key.verify(
            base64.urlsafe_b64decode(sig + b"=" * (-len(sig) % 4)),
            token.encode("ascii")[: len(head) + 1 + len(payload)],
            pkcs1v15,
            sha256,
        )
        return json.loads(base64.urlsafe_b64decode(payload + b"=" * (-len(payload) % 4)))

    assert parse_floor() == decoded

    return {
        "raw": lambda: public_key.verify(signature, signing_input, pkcs1v15, sha256),
        "floor": parse_floor,
        "pyjwt": lambda: jwt.decode(
            token, public_key, algorithms=["RS256"], audience=AUDIENCE, issuer=ISSUER
        ),
        "verifier": lambda: uncached.verify(token),
        "cached": lambda: cached.verify(token),
        "reference": lambda: uncached.verify_with_pyjwt(token),
    }


def time_per_call_ns(fn, iterations: int) -> float:
    clock = time.perf_counter_ns
    start = clock()
    for _ in range(iterations):
        fn()
    return (clock() - start) / iterations


def run(iterations: int, rounds: int, key_size: int) -> dict:
    cases = build_cases(key_size)
    names = list(cases)
    for name in names:  # warm-up
        time_per_call_ns(cases[name], max(iterations // 5, 50))
    samples: dict[str, list[float]] = {name: [] for name in names}
    ratios: dict[str, list[float]] = {name: [] for name in names}
    to_floor: dict[str, list[float]] = {name: [] for name in names}
    for round_no in range(rounds):
        order = names[round_no % len(names) :] + names[: round_no % len(names)]
        this_round = {name: time_per_call_ns(cases[name], iterations) for name in order}
        for name in names:
            samples[name].append(this_round[name])
            ratios[name].append(this_round[name] / this_round["raw"])
            to_floor[name].append(this_round[name] / this_round["floor"])
        print(f"[bench] round {round_no + 1}/{rounds} done", file=sys.stderr, flush=True)
    return {
        "iterations": iterations,
        "rounds": rounds,
        "key_size": key_size,
        "python": platform.python_version(),
        "pyjwt": jwt.__version__,
        "cryptography": cryptography.__version__,
        "iam_client": iam_client.__version__,
        "results": {
            name: {
                "us_per_call": round(statistics.median(samples[name]) / 1000, 3),
                "us_min": round(min(samples[name]) / 1000, 3),
                "ratio_to_raw": round(statistics.median(ratios[name]), 3),
                "ratio_to_floor": round(statistics.median(to_floor[name]), 3),
            }
            for name in names
        },
    }


LABELS = {
    "raw": "raw cryptography RSA verify",
    "floor": "verify + decode payload (floor)",
    "pyjwt": "jwt.decode (RS256, aud, iss)",
    "verifier": "Verifier.verify, no cache",
    "cached": "Verifier.verify, cache hit",
    "reference": "Verifier.verify_with_pyjwt",
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--iterations", type=int, default=2000, help="calls per case per round")
    parser.add_argument("--rounds", type=int, default=9, help="rounds; medians are reported")
    parser.add_argument("--key-size", type=int, default=2048)
    parser.add_argument("--output", type=Path, help="also write the JSON result here")
    args = parser.parse_args()
    result = run(args.iterations, args.rounds, args.key_size)
    print(
        f"RSA-{args.key_size}, {args.iterations} calls x {args.rounds} rounds, "
        f"Python {result['python']}, PyJWT {result['pyjwt']}, "
        f"cryptography {result['cryptography']}"
    )
    print(f"{'case':32} {'µs/call':>10} {'min µs':>10} {'x raw':>8} {'x floor':>8}")
    for name, figures in result["results"].items():
        print(
            f"{LABELS[name]:32} {figures['us_per_call']:10.2f} {figures['us_min']:10.2f} "
            f"{figures['ratio_to_raw']:8.2f} {figures['ratio_to_floor']:8.2f}"
        )
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
