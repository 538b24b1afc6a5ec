"""API keys: parsing, loading, constant-time checks, and never showing the secret (no network)."""

from __future__ import annotations

import string
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from warmwire.auth.keys import (
    ANY_APP,
    ApiKey,
    KeyScope,
    KeyStore,
    load_keys,
    parse_key,
    parse_key_line,
)
from warmwire.core.errors import ConfigurationError

SECRET = "s3cret"


@pytest.fixture
def store() -> KeyStore:
    return KeyStore([ApiKey("dev", SECRET), ApiKey("ci", "other-secret")])


# --- ApiKey and parse_key ---------------------------------------------------------------


def test_api_key_repr_hides_the_secret() -> None:
    key = ApiKey("dev", SECRET)
    assert SECRET not in repr(key)
    assert "dev" in repr(key)
    assert str(key) == f"dev:{SECRET}"  # the header value, on purpose


def test_parse_key() -> None:
    assert parse_key(f"dev:{SECRET}") == ApiKey("dev", SECRET)
    assert parse_key(f"  dev:{SECRET}\n") == ApiKey("dev", SECRET)
    # Only the first colon separates: secrets may contain colons.
    assert parse_key("dev:a:b") == ApiKey("dev", "a:b")


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("s3cretwithoutcolon", id="no-colon"),
        pytest.param(":s3cret-only", id="no-id"),
        pytest.param("dev:", id="no-secret"),
        pytest.param("", id="empty"),
        pytest.param("   ", id="blank"),
    ],
)
def test_parse_key_errors_do_not_echo_the_input(text: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        parse_key(text)
    message = str(info.value)
    assert "key_id:key_secret" in message
    if text.strip():
        assert text.strip().strip(":") not in message


# --- KeyStore.verify / verify_header ----------------------------------------------------


def test_verify(store: KeyStore) -> None:
    assert len(store) == 2
    assert store.verify("dev", SECRET)
    assert store.verify("ci", "other-secret")
    assert not store.verify("dev", "wrong")
    assert not store.verify("dev", "other-secret"), "another key's secret"
    assert not store.verify("dev", SECRET + "x")
    assert not store.verify("dev", SECRET[:-1])
    assert not store.verify("dev", "")
    assert not store.verify("nobody", SECRET)
    assert not store.verify("DEV", SECRET), "ids are case-sensitive"


def test_unknown_id_never_matches_the_dummy(store: KeyStore) -> None:
    """Unknown ids are compared against a dummy; presenting the dummy must not pass."""
    assert not store.verify("nobody", "\0" * 32)
    assert not KeyStore().verify("", "\0" * 32)


def test_empty_store_accepts_nothing() -> None:
    empty = KeyStore()
    assert len(empty) == 0
    assert not empty.verify("dev", SECRET)
    assert empty.verify_header(f"Key dev:{SECRET}") is None


@pytest.mark.parametrize(
    "header",
    [
        f"Key dev:{SECRET}",
        f"key dev:{SECRET}",
        f"KEY dev:{SECRET}",
        f"  Key dev:{SECRET}  ",
        f"Key  dev:{SECRET}",
    ],
)
def test_verify_header_good(store: KeyStore, header: str) -> None:
    assert store.verify_header(header) == "dev"


@pytest.mark.parametrize(
    "header",
    [
        pytest.param(None, id="none"),
        pytest.param("", id="empty"),
        pytest.param("Key", id="scheme-only"),
        pytest.param("Key ", id="scheme-space"),
        pytest.param("Key dev", id="no-colon"),
        pytest.param("Key dev:", id="no-secret"),
        pytest.param(f"Key :{SECRET}", id="no-id"),
        pytest.param("Key dev:wrong", id="wrong-secret"),
        pytest.param(f"Key nobody:{SECRET}", id="unknown-id"),
        pytest.param(f"Bearer dev:{SECRET}", id="bearer"),
        pytest.param("Basic ZGV2OnMzY3JldA==", id="basic"),
        pytest.param(f"Keydev:{SECRET}", id="no-space"),
        pytest.param(f"dev:{SECRET}", id="no-scheme"),
        pytest.param(f"Key dev:{SECRET} extra", id="trailing-garbage"),
    ],
)
def test_verify_header_bad(store: KeyStore, header: str | None) -> None:
    assert store.verify_header(header) is None


# --- load_keys --------------------------------------------------------------------------


def test_load_keys_from_file_with_comments(tmp_path: Path) -> None:
    path = tmp_path / "keys"
    path.write_text(
        "# warmwire API keys\n"
        "\n"
        f"dev:{SECRET}\n"
        "   # indented comment\n"
        "ci:abc   # the CI runner\n"
        "hash:has#inside\n"
        "  spaced:padded  \n"
    )
    store = load_keys(path, env={})
    assert len(store) == 4
    assert store.verify("dev", SECRET)
    assert store.verify("ci", "abc")
    assert store.verify("spaced", "padded")
    # A '#' inside a secret is part of it; cutting there would accept a weaker secret.
    assert store.verify("hash", "has#inside")
    assert not store.verify("hash", "has")


def test_load_keys_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WARMWIRE_KEYS", f"dev:{SECRET}, ci:abc ,,")
    store = load_keys()
    assert len(store) == 2
    assert store.verify("dev", SECRET)
    assert store.verify("ci", "abc")


def test_load_keys_file_and_env_combine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "keys"
    path.write_text(f"dev:{SECRET}\n")
    monkeypatch.setenv("WARMWIRE_KEYS", "ci:abc")
    store = load_keys(str(path))
    assert store.verify("dev", SECRET)
    assert store.verify("ci", "abc")


def test_load_keys_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WARMWIRE_KEYS", raising=False)
    assert len(load_keys()) == 0
    assert len(load_keys(env={"WARMWIRE_KEYS": ""})) == 0


def test_load_keys_bad_line_names_the_line_not_the_secret(tmp_path: Path) -> None:
    path = tmp_path / "keys"
    path.write_text(f"dev:{SECRET}\n# ok\nthisisasecretwithoutid\n")
    with pytest.raises(ConfigurationError) as info:
        load_keys(path, env={})
    message = str(info.value)
    assert "line 3" in message
    assert str(path) in message
    assert "thisisasecretwithoutid" not in message
    assert SECRET not in message


def test_load_keys_bad_env_entry_does_not_echo_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WARMWIRE_KEYS", f"dev:{SECRET},leakedsecretnocolon")
    with pytest.raises(ConfigurationError) as info:
        load_keys()
    assert "leakedsecretnocolon" not in str(info.value)
    assert SECRET not in str(info.value)


# --- scopes: apps=, max_expiration=, mint_rate= -------------------------------------------


def test_key_line_without_options_may_open_any_app() -> None:
    key = parse_key_line(f"dev:{SECRET}")
    assert key == ApiKey("dev", SECRET)
    assert key.scope == ANY_APP
    assert key.scope.allows("anyone/anything")
    assert key.scope.resolve_alias("stylize") == ["*/stylize"]


def test_key_line_with_a_scope() -> None:
    key = parse_key_line(
        f"backend:{SECRET} apps=acme/*,acme-labs/stylize max_expiration=600 mint_rate=30"
    )
    assert key.key_id == "backend"
    assert key.secret == SECRET
    assert key.scope == KeyScope(("acme/*", "acme-labs/stylize"), 600, 30)
    assert SECRET not in repr(key)
    assert key.scope.allows("acme/stylize")
    assert key.scope.allows("acme-labs/stylize")
    assert not key.scope.allows("acme-labs/other")
    assert not key.scope.allows("other/stylize")
    assert not key.scope.allows("workflows/acme/flow")


@pytest.mark.parametrize(
    ("apps", "alias", "resolved"),
    [
        pytest.param(("acme/*",), "stylize", ["acme/stylize"], id="one-owner"),
        pytest.param(("acme/sty*",), "stylize", ["acme/stylize"], id="alias-glob"),
        pytest.param(("acme/sty*",), "chat", [], id="alias-outside"),
        pytest.param(("acme/*", "other/*"), "stylize", ["acme/stylize", "other/stylize"]),
        pytest.param(("acme/*", "acme/stylize"), "stylize", ["acme/stylize"], id="dedup"),
        pytest.param(("*/stylize",), "stylize", ["*/stylize"], id="any-owner"),
        pytest.param(("workflows/acme/*",), "flow", ["workflows/acme/flow"], id="namespace"),
    ],
)
def test_resolve_alias(apps: tuple[str, ...], alias: str, resolved: list[str]) -> None:
    assert KeyScope(apps).resolve_alias(alias) == resolved


@pytest.mark.parametrize(
    ("line", "part"),
    [
        pytest.param(f"dev:{SECRET} apps=stylize", "owner/alias", id="pattern-without-owner"),
        pytest.param(f"dev:{SECRET} max_expiration=0", "positive", id="zero-expiration"),
        pytest.param(f"dev:{SECRET} max_expiration=ten", "positive", id="word-expiration"),
        pytest.param(f"dev:{SECRET} mint_rate=-1", "positive", id="negative-rate"),
        pytest.param(f"dev:{SECRET} apps=a/* apps=b/*", "twice", id="twice"),
        pytest.param(f"dev:{SECRET} app=acme/*", "only", id="misspelt-option"),
        pytest.param(f"dev:{SECRET} tail-of-secret", "whitespace", id="secret-with-space"),
    ],
)
def test_key_line_errors_name_the_key_not_the_secret(line: str, part: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        parse_key_line(line)
    message = str(info.value)
    assert part in message
    assert "'dev'" in message
    assert SECRET not in message
    assert "tail-of-secret" not in message


def test_load_scoped_keys_from_file_and_env(tmp_path: Path) -> None:
    path = tmp_path / "keys"
    path.write_text(f"acme:{SECRET} apps=acme/* max_expiration=300  # the acme backend\n")
    env = {"WARMWIRE_KEYS": "ci:abc, dev:xyz; other:def apps=other/*,shared/x mint_rate=5"}
    store = load_keys(path, env=env)
    assert len(store) == 4
    assert store.verify("acme", SECRET)
    assert store.scope("acme") == KeyScope(("acme/*",), 300)
    assert store.verify("other", "def")
    assert store.scope("other") == KeyScope(("other/*", "shared/x"), None, 5)
    assert store.scope("ci") == store.scope("dev") == ANY_APP


def test_env_keys_with_options_are_separated_by_semicolons() -> None:
    with pytest.raises(ConfigurationError, match="';'") as info:
        load_keys(env={"WARMWIRE_KEYS": f"ci:abc,dev:{SECRET} apps=acme/*"})
    assert SECRET not in str(info.value)


def test_bad_scope_line_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "keys"
    path.write_text(f"dev:{SECRET}\nacme:{SECRET} apps=acme\n")
    with pytest.raises(ConfigurationError) as info:
        load_keys(path, env={})
    assert "line 2" in str(info.value)
    assert SECRET not in str(info.value)


_NAME = st.text(alphabet=string.ascii_lowercase + string.digits + "-_", min_size=1, max_size=8)
_PATTERN = st.builds(
    lambda owner, alias: f"{owner}/{alias}", _NAME | st.just("*"), _NAME | st.just("*")
)


@given(
    key_id=_NAME,
    secret=st.text(alphabet=string.ascii_letters + string.digits + ":#=,/*", min_size=1),
    apps=st.none() | st.lists(_PATTERN, min_size=1, max_size=4).map(tuple),
    max_expiration=st.none() | st.integers(min_value=1, max_value=10**6),
    mint_rate=st.none() | st.integers(min_value=1, max_value=10**6),
)
def test_key_line_round_trips(
    key_id: str,
    secret: str,
    apps: tuple[str, ...] | None,
    max_expiration: int | None,
    mint_rate: int | None,
) -> None:
    """Whatever the scope, a written key line parses back to the same key."""
    line = f"{key_id}:{secret}"
    if apps is not None:
        line += " apps=" + ",".join(apps)
    if max_expiration is not None:
        line += f" max_expiration={max_expiration}"
    if mint_rate is not None:
        line += f" mint_rate={mint_rate}"
    assert parse_key_line(line) == ApiKey(key_id, secret, KeyScope(apps, max_expiration, mint_rate))
