"""Token minting and verification (no network): claims, every refusal, ``allows()``, properties."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from warmwire.auth.tokens import (
    TokenError,
    TokenIssuer,
    TokenVerifier,
    allows,
    generate_signing_key,
    jwks,
    key_id_of,
    keys_from_jwks,
    load_signing_key,
    load_verify_key,
    public_pem,
)
from warmwire.core.endpoint import Endpoint, parse_app_id
from warmwire.core.errors import ConfigurationError

KEY = load_signing_key(generate_signing_key())
OTHER = Ed25519PrivateKey.generate()
VERIFIER = TokenVerifier((KEY.public_key(),))
ECHO = parse_app_id("warmwire/echo")
ISSUER = TokenIssuer(KEY)
B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    base: dict[str, Any] = {
        "sub": "dev",
        "allowed_apps": ["warmwire/echo"],
        "iat": now,
        "nbf": now,
        "exp": now + 60,
        "jti": "j",
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def mint(key: Ed25519PrivateKey = KEY, **overrides: Any) -> str:
    return jwt.encode(claims(**overrides), key, algorithm="EdDSA")


def hand_made(header: dict[str, Any], sign: Any = None, **overrides: Any) -> str:
    unsigned = (
        f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(claims(**overrides)).encode())}"
    )
    signature = sign(unsigned.encode()) if sign else b""
    return f"{unsigned}.{b64url(signature)}"


# --- keys -------------------------------------------------------------------------------


def test_signing_key_round_trips_through_pem(tmp_path: Path) -> None:
    pem = generate_signing_key()
    assert pem.startswith(b"-----BEGIN PRIVATE KEY-----")
    key = load_signing_key(pem)
    assert load_signing_key(pem.decode()).public_key() == key.public_key()
    path = tmp_path / "signing.pem"
    path.write_bytes(pem)
    assert load_signing_key(path).public_key() == key.public_key()
    public = tmp_path / "verify.pem"
    public.write_bytes(public_pem(key))
    assert load_verify_key(public) == key.public_key()
    assert public_pem(key) == public_pem(key.public_key())
    assert b"PRIVATE" not in public_pem(key)


def test_wrong_key_types_are_configuration_errors() -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    ec_key = ec.generate_private_key(ec.SECP256R1())
    ec_pem = ec_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    with pytest.raises(ConfigurationError, match="Ed25519"):
        load_signing_key(ec_pem)
    ec_public = ec_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    with pytest.raises(ConfigurationError, match="Ed25519"):
        load_verify_key(ec_public)


def test_jwks_round_trip() -> None:
    document = jwks(KEY.public_key(), OTHER.public_key())
    assert [k["kid"] for k in document["keys"]] == [
        key_id_of(KEY.public_key()),
        key_id_of(OTHER.public_key()),
    ]
    assert all("d" not in k for k in document["keys"])
    assert keys_from_jwks(document) == [KEY.public_key(), OTHER.public_key()]
    with pytest.raises(ConfigurationError):
        keys_from_jwks({"keys": [{"kty": "RSA", "n": "x", "e": "AQAB"}]})
    with pytest.raises(ConfigurationError):
        keys_from_jwks({})


def test_issuer_and_verifier_reprs_show_no_keys() -> None:
    for obj in (ISSUER, VERIFIER):
        text = repr(obj)
        assert "Ed25519" not in text
        assert "key" not in text.lower()


# --- minting ----------------------------------------------------------------------------


def test_minted_claims() -> None:
    token = ISSUER.mint("dev", ["warmwire/echo", "acme/app"], 60)
    assert jwt.get_unverified_header(token) == {
        "alg": "EdDSA",
        "typ": "JWT",
        "kid": key_id_of(KEY.public_key()),
    }
    got = jwt.decode(token, KEY.public_key(), algorithms=["EdDSA"])
    assert got["sub"] == "dev"
    assert got["allowed_apps"] == ["warmwire/echo", "acme/app"]
    assert got["exp"] - got["iat"] == 60
    assert got["nbf"] == got["iat"]
    assert abs(got["iat"] - time.time()) < 5
    assert len(got["jti"]) >= 16
    assert ISSUER.mint("dev", ["echo"], 60) != ISSUER.mint("dev", ["echo"], 60)
    assert VERIFIER.verify(token, ECHO) == got


# --- verification -----------------------------------------------------------------------


def _now() -> int:
    return int(time.time())


BAD: list[Any] = [
    pytest.param(lambda: "", "missing token", id="empty"),
    pytest.param(lambda: "garbage", "malformed token", id="garbage"),
    pytest.param(lambda: "a.b.c", "malformed token", id="three-garbage-parts"),
    pytest.param(lambda: mint()[:-4], None, id="truncated-signature"),
    pytest.param(lambda: mint() + "AA", None, id="extended-signature"),
    pytest.param(lambda: mint(exp=_now() - 60), "expired", id="expired"),
    pytest.param(lambda: mint(nbf=_now() + 60), "not yet valid", id="nbf-future"),
    pytest.param(lambda: mint(iat=_now() + 60, nbf=None), "not yet valid", id="iat-future"),
    pytest.param(lambda: mint(allowed_apps=["other"]), "not valid for app", id="other-app"),
    pytest.param(lambda: mint(allowed_apps=[]), "not valid for app", id="no-apps"),
    pytest.param(lambda: mint(allowed_apps="echo"), "must be a list", id="apps-string"),
    pytest.param(lambda: mint(allowed_apps={"echo": 1}), "must be a list", id="apps-object"),
    pytest.param(lambda: mint(allowed_apps=["echo", 2]), "must be a list", id="apps-number"),
    pytest.param(lambda: mint(allowed_apps=None), "'allowed_apps'", id="apps-missing"),
    pytest.param(lambda: mint(exp=None), "'exp'", id="exp-missing"),
    pytest.param(lambda: mint(iat=None), "'iat'", id="iat-missing"),
    pytest.param(lambda: mint(sub=None), "'sub'", id="sub-missing"),
    pytest.param(lambda: mint(exp="soon"), "malformed token", id="exp-not-a-number"),
    pytest.param(lambda: mint(sub=42), "malformed token", id="sub-not-a-string"),
    pytest.param(lambda: mint(key=OTHER), "signature is not valid", id="other-key"),
    pytest.param(
        lambda: hand_made({"alg": "none", "typ": "JWT"}), "algorithm not allowed", id="alg-none"
    ),
    pytest.param(
        lambda: hand_made({"alg": "None", "typ": "JWT"}), "algorithm not allowed", id="alg-None"
    ),
    pytest.param(lambda: hand_made({"typ": "JWT"}), "algorithm not allowed", id="no-alg"),
    pytest.param(
        lambda: hand_made(
            {"alg": "HS256", "typ": "JWT"},
            lambda m: hmac.new(public_pem(KEY), m, hashlib.sha256).digest(),
        ),
        "algorithm not allowed",
        id="hs256-public-pem",
    ),
    pytest.param(
        lambda: hand_made({"alg": "EdDSA", "typ": "JWT"}, lambda m: b"\0" * 64),
        "signature is not valid",
        id="zero-signature",
    ),
    pytest.param(
        lambda: hand_made({"alg": "EdDSA", "typ": "JWT"}, OTHER.sign),
        "signature is not valid",
        id="hand-signed-other-key",
    ),
]


@pytest.mark.parametrize(("make", "reason_part"), BAD)
def test_verify_refuses(make: Any, reason_part: str | None) -> None:
    token = make()
    with pytest.raises(TokenError) as info:
        VERIFIER.verify(token, ECHO)
    message = str(info.value)
    if reason_part is not None:
        assert reason_part in message
    for part in token.split("."):
        if len(part) > 8:
            assert part not in message, "the error must not quote the token"


def test_hand_made_eddsa_token_is_accepted() -> None:
    """The hand-made builder is right: signed with the right key it verifies."""
    token = hand_made({"alg": "EdDSA", "typ": "JWT"}, KEY.sign)
    assert VERIFIER.verify(token, ECHO)["sub"] == "dev"


def test_leeway() -> None:
    assert VERIFIER.leeway == 5
    VERIFIER.verify(mint(exp=_now() - 2), ECHO)
    VERIFIER.verify(mint(nbf=_now() + 2, iat=_now() + 2), ECHO)
    strict = TokenVerifier((KEY.public_key(),), leeway=0)
    with pytest.raises(TokenError, match="expired"):
        strict.verify(mint(exp=_now() - 1), ECHO)
    with pytest.raises(TokenError, match="not yet valid"):
        strict.verify(mint(nbf=_now() + 2), ECHO)


def test_rotation_accepts_every_known_key() -> None:
    both = TokenVerifier((OTHER.public_key(), KEY.public_key()))
    assert both.verify(mint(KEY), ECHO)["sub"] == "dev"
    assert both.verify(mint(OTHER), ECHO)["sub"] == "dev"
    # An expiry found with the second key is reported as such, not as a bad signature.
    with pytest.raises(TokenError, match="expired"):
        both.verify(mint(KEY, exp=_now() - 60), ECHO)
    with pytest.raises(TokenError, match="signature"):
        both.verify(mint(Ed25519PrivateKey.generate()), ECHO)


# --- allows() ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("app_id", "path", "entry", "allowed"),
    [
        ("warmwire/echo", "/realtime", "echo", True),
        ("warmwire/echo", "/realtime", "warmwire/echo", True),
        ("warmwire/echo", "/realtime", "warmwire/echo/realtime", True),
        ("warmwire/echo", "/realtime", "/warmwire/echo/realtime/", True),
        ("warmwire/echo", "/realtime", "/echo", True),
        ("warmwire/echo", "/async", "warmwire/echo/async", True),
        ("warmwire/echo", "/async", "warmwire/echo/realtime", False),
        ("warmwire/echo", "/realtime", "warmwire", False),
        ("warmwire/echo", "/realtime", "evil/echo", False),
        ("warmwire/echo", "/realtime", "Echo", False),
        ("warmwire/echo", "/realtime", "echo2", False),
        ("warmwire/echo", "/realtime", "warmwire/echo/realtime/extra", False),
        ("warmwire/echo", "/realtime", "realtime", False),
        ("warmwire/echo", "/realtime", "", False),
        ("warmwire/echo", "/realtime", "/", False),
        ("warmwire/echo", "/realtime", "*", False),
        ("acme/app/sub/dir", "/realtime", "acme/app", True),
        ("acme/app/sub/dir", "/realtime", "acme/app/sub/dir/realtime", True),
        ("acme/app/sub/dir", "/realtime", "app", True),
        ("workflows/acme/flow", "/realtime", "flow", True),
        ("workflows/acme/flow", "/realtime", "acme/flow", True),
        ("workflows/acme/flow", "/realtime", "workflows/acme/flow", True),
        ("workflows/acme/flow", "/realtime", "workflows/acme/flow/realtime", True),
        ("workflows/acme/flow", "/realtime", "comfy/acme/flow", False),
        ("123-alias", "/realtime", "alias", True),
        ("123-alias", "/realtime", "123/alias", True),
        ("warmwire/echo", "/realtime", "*/echo", True),
        ("warmwire/echo", "/realtime", "warmwire/*", True),
        ("warmwire/echo", "/realtime", "*/other", False),
        ("warmwire/echo", "/realtime", "evil/*", False),
        ("workflows/acme/flow", "/realtime", "*/flow", True),
    ],
)
def test_allows(app_id: str, path: str, entry: str, allowed: bool) -> None:
    """Bare aliases name the endpoint only in legacy tokens (no owner: any owner's app)."""
    endpoint = parse_app_id(app_id, path)
    bare = "/" not in entry.strip("/")
    assert allows([entry], endpoint, legacy_aliases=True) is allowed
    assert allows(["unrelated", entry], endpoint, legacy_aliases=True) is allowed
    assert allows([entry], endpoint) is (allowed and not bare)
    assert allows([], endpoint, legacy_aliases=True) is False


# --- properties -------------------------------------------------------------------------

VALID = ISSUER.mint("dev", ["warmwire/echo"], 3600)
HEAD, BODY, SIGNATURE = VALID.split(".")


@settings(max_examples=300, deadline=None)
@given(
    index=st.integers(min_value=0, max_value=len(SIGNATURE) - 1),
    replacement=st.sampled_from(B64URL),
)
@example(index=len(SIGNATURE) - 1, replacement="A")  # the last char carries padding bits
@example(index=len(SIGNATURE) - 1, replacement="B")
def test_any_one_character_change_in_the_signature_is_refused(index: int, replacement: str) -> None:
    assert VERIFIER.verify(VALID, ECHO)["sub"] == "dev"
    if SIGNATURE[index] == replacement:
        replacement = B64URL[(B64URL.index(replacement) + 1) % len(B64URL)]
    mutated = SIGNATURE[:index] + replacement + SIGNATURE[index + 1 :]
    with pytest.raises(TokenError):
        VERIFIER.verify(f"{HEAD}.{BODY}.{mutated}", ECHO)


@settings(max_examples=300, deadline=None)
@given(index=st.integers(min_value=0, max_value=len(VALID) - 1), char=st.characters())
def test_any_one_character_change_anywhere_is_refused(index: int, char: str) -> None:
    if VALID[index] == char:
        return
    mutated = VALID[:index] + char + VALID[index + 1 :]
    with pytest.raises(TokenError):
        VERIFIER.verify(mutated, ECHO)


@settings(max_examples=500, deadline=None)
@given(st.text())
@example("")
@example("..")
@example("a.b.c.d")
@example("\x00.\x00.\x00")
@example(f"{HEAD}.{BODY}.")
@example(f"{HEAD}..{SIGNATURE}")
def test_arbitrary_text_raises_only_token_error(text: str) -> None:
    with pytest.raises(TokenError):
        VERIFIER.verify(text, ECHO)


JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=8,
)
SEGMENT = st.one_of(
    st.text(alphabet=B64URL + "=.+/ ", max_size=40),
    JSON.map(lambda v: b64url(json.dumps(v).encode())),
    st.binary(max_size=80).map(b64url),
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(head=SEGMENT, body=SEGMENT, sig=SEGMENT)
def test_arbitrary_segments_raise_only_token_error(head: str, body: str, sig: str) -> None:
    with pytest.raises(TokenError):
        VERIFIER.verify(f"{head}.{body}.{sig}", ECHO)


CLAIM_VALUES = JSON | st.just(["warmwire/echo"]) | st.integers(min_value=0, max_value=2**40)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    payload=st.dictionaries(
        st.sampled_from(["sub", "allowed_apps", "iat", "nbf", "exp", "jti", "aud", "iss"])
        | st.text(max_size=5),
        CLAIM_VALUES,
        max_size=8,
    ),
    header=st.dictionaries(
        st.sampled_from(["kid", "typ", "cty", "crit", "b64", "jku"]), JSON, max_size=3
    ),
)
def test_signed_arbitrary_claims_raise_only_token_error(
    payload: dict[str, Any], header: dict[str, Any]
) -> None:
    """Even correctly signed, odd claims and headers never crash the verifier."""
    try:
        token = jwt.encode(payload, KEY, algorithm="EdDSA", headers=header)
    except (TypeError, ValueError, jwt.PyJWTError):
        return  # PyJWT will not make this one; nothing to verify
    try:
        got = VERIFIER.verify(token, ECHO)
    except TokenError:
        return
    # Accepted: then it really is valid for the endpoint.
    assert isinstance(got["allowed_apps"], list)
    assert allows(got["allowed_apps"], ECHO)
    assert isinstance(got["sub"], str)
    assert int(got["exp"]) > time.time() - VERIFIER.leeway


def test_endpoint_sanity() -> None:
    """The endpoint used throughout: alias, app id and path as the tests assume."""
    assert Endpoint("warmwire", "echo") == ECHO
    assert ECHO.endpoint_path == "warmwire/echo/realtime"
