"""The memory of refused tokens: what it keeps, how long, and that it never changes an answer."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st

from warmwire.auth.refusals import RefusalCache
from warmwire.auth.tokens import TokenError, TokenVerifier
from warmwire.core.endpoint import parse_app_id

KEY = Ed25519PrivateKey.generate()
OTHER = Ed25519PrivateKey.generate()
ECHO = parse_app_id("warmwire/echo")
CHAT = parse_app_id("warmwire/chat")


class Clock:
    """A clock the test moves by hand: TTLs without sleeping."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def mint(key: Ed25519PrivateKey = KEY, **overrides: Any) -> str:
    now = int(time.time())
    claims: dict[str, Any] = {
        "sub": "dev",
        "allowed_apps": ["warmwire/echo"],
        "iat": now,
        "nbf": now,
        "exp": now + 60,
    }
    claims.update(overrides)
    return jwt.encode(claims, key, algorithm="EdDSA")


def verifier(cache: RefusalCache | None = None) -> TokenVerifier:
    return TokenVerifier((KEY.public_key(),), refused=cache or RefusalCache())


def refusal(v: TokenVerifier, token: str, endpoint: Any = ECHO) -> str:
    with pytest.raises(TokenError) as info:
        v.verify(token, endpoint)
    return str(info.value)


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda: mint(OTHER), "signature is not valid"),
        (lambda: mint(exp=int(time.time()) - 600), "expired"),
        (lambda: mint(allowed_apps=["chat"]), "not valid for app"),
        (lambda: "not.a.token", "malformed"),
    ],
)
def test_a_lasting_refusal_is_remembered_with_its_reason(
    make: Callable[[], str], reason: str
) -> None:
    # Minted when the test runs, not at collection: a 60 s token made then may have
    # expired by the time a long suite gets here, and be refused for that instead.
    token = make()
    v = verifier()
    first = refusal(v, token)
    assert reason in first
    assert len(v.refused) == 1
    assert v.refused.get(token, ECHO) == first
    # The second refusal comes from the memory: same reason, nothing new stored.
    assert refusal(v, token) == first
    assert len(v.refused) == 1


def test_not_yet_valid_is_never_remembered() -> None:
    v = verifier()
    early = mint(nbf=int(time.time()) + 600)
    assert "not yet valid" in refusal(v, early)
    assert len(v.refused) == 0


def test_an_accepted_token_is_never_remembered() -> None:
    v = verifier()
    good = mint()
    assert v.verify(good, ECHO)["sub"] == "dev"
    assert v.verify(good, ECHO)["sub"] == "dev"
    assert len(v.refused) == 0


def test_refusals_are_per_endpoint() -> None:
    """A token refused for one app is still accepted for the app it names."""
    v = verifier()
    chat_only = mint(allowed_apps=[CHAT.app_id])
    assert "not valid for app" in refusal(v, chat_only, ECHO)
    assert v.verify(chat_only, CHAT)["allowed_apps"] == [CHAT.app_id]
    assert "not valid for app" in refusal(v, chat_only, ECHO)


def test_entries_expire_after_the_ttl() -> None:
    clock = Clock()
    cache = RefusalCache(ttl=5.0, clock=clock)
    cache.add("t", ECHO, "no")
    clock.now += 4.9
    assert cache.get("t", ECHO) == "no"
    clock.now += 0.1
    assert cache.get("t", ECHO) is None
    assert len(cache) == 0


def test_the_least_recently_used_entry_goes_first() -> None:
    cache = RefusalCache(size=2)
    cache.add("a", ECHO, "A")
    cache.add("b", ECHO, "B")
    assert cache.get("a", ECHO) == "A"  # a is now the most recent
    cache.add("c", ECHO, "C")
    assert len(cache) == 2
    assert cache.get("b", ECHO) is None
    assert (cache.get("a", ECHO), cache.get("c", ECHO)) == ("A", "C")


def test_memory_is_bounded_by_entries_not_token_size() -> None:
    cache = RefusalCache(size=3)
    for i in range(100):
        cache.add(f"{i}" + "x" * 16_000, ECHO, "no")
    assert len(cache) == 3


def test_bad_sizes_and_ttls_are_refused() -> None:
    with pytest.raises(ValueError, match="size"):
        RefusalCache(size=0)
    with pytest.raises(ValueError, match="ttl"):
        RefusalCache(ttl=0)


@given(st.text(max_size=300), st.booleans())
def test_the_memory_never_changes_an_answer(token: str, expire_between: bool) -> None:
    """Any token gets the same answer with the memory as a fresh verifier gives it."""
    clock = Clock()
    v = verifier(RefusalCache(ttl=1.0, clock=clock))
    for _ in range(2):
        try:
            expected: str | None = str(verifier().verify(token, ECHO))
        except TokenError as exc:
            expected = f"refused: {exc}"
        try:
            got: str | None = str(v.verify(token, ECHO))
        except TokenError as exc:
            got = f"refused: {exc}"
        assert got == expected
        if expire_between:
            clock.now += 2.0
