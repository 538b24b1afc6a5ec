"""Signing-key rotation with no client cut: stage the next key, promote it, retire the old.

The files next to the signing key ``PATH`` (``--signing-key PATH``):

- ``PATH``: the key that signs now;
- ``PATH.next`` (and ``PATH.next.pub``): the staged next key, published in the
  JWKS so runners hold it before it signs anything;
- ``PATH.previous.pub``: the retired key's public half, published and verified
  while tokens it signed may still be alive (at most the longest expiration).

``warmwire keys rotate PATH`` stages when there is no ``PATH.next``, and
promotes otherwise; ``warmwire keys retire PATH`` drops ``PATH.previous.pub``.
A token server or runner reads these files when it starts: restart it after
each step (sessions on runners are not touched; clients mint again on retry).
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from warmwire.auth.tokens import (
    generate_signing_key,
    key_id_of,
    load_signing_key,
    load_verify_key,
    public_pem,
)
from warmwire.core.errors import ConfigurationError


def next_path(path: Path) -> Path:
    """Where the staged next signing key of ``path`` is kept."""
    return path.with_name(path.name + ".next")


def previous_path(path: Path) -> Path:
    """Where the retired key's public half of ``path`` is kept."""
    return path.with_name(path.name + ".previous.pub")


def rotation_public_keys(path: Path) -> list[Ed25519PublicKey]:
    """The staged next key's and the retired key's public halves, those that exist."""
    found = []
    if next_path(path).exists():
        found.append(load_signing_key(next_path(path)).public_key())
    if previous_path(path).exists():
        found.append(load_verify_key(previous_path(path)))
    return found


def write_private(path: Path, pem: bytes) -> None:
    """Write a private key readable by its owner only; refuse to overwrite."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(pem)
    path.with_name(path.name + ".pub").write_bytes(public_pem(load_signing_key(pem)))


def rotate(path: Path) -> str:
    """One rotation step on ``path``; what was done, and what to do next."""
    if not path.exists():
        raise ConfigurationError(
            f"{path} does not exist: create the signing key with 'warmwire keys generate'"
        )
    staged = next_path(path)
    if not staged.exists():
        write_private(staged, generate_signing_key())
        kid = key_id_of(load_signing_key(staged).public_key())
        return (
            f"staged the next signing key {staged} (kid {kid}). Restart the token server: "
            "its JWKS lists it and runners verifying through --jwks-url pick it up at their "
            "next refresh (--jwks-max-age). Then run 'warmwire keys rotate' again to sign "
            "with it."
        )
    if previous_path(path).exists():
        # Overwriting it would drop a key whose tokens may still be alive.
        raise ConfigurationError(
            f"{previous_path(path)} still holds the key retired by the last rotation: once "
            "its tokens have expired, run 'warmwire keys retire' first"
        )
    current = load_signing_key(path)
    new = load_signing_key(staged)
    previous_path(path).write_bytes(public_pem(current))
    os.replace(staged, path)
    os.chmod(path, 0o600)
    pub = staged.with_name(staged.name + ".pub")
    os.replace(pub, path.with_name(path.name + ".pub"))
    return (
        f"{path} now signs with kid {key_id_of(new.public_key())}; the retired key "
        f"(kid {key_id_of(current.public_key())}) stays in the JWKS as "
        f"{previous_path(path)} so its tokens verify until they expire. Restart the token "
        "server; once its tokens have expired (the longest token expiration), run "
        "'warmwire keys retire' and restart it again."
    )


def retire(path: Path) -> str:
    """Drop the retired key: its tokens are refused from the next restart / JWKS refresh."""
    old = previous_path(path)
    if not old.exists():
        raise ConfigurationError(f"there is no retired key {old} to drop")
    kid = key_id_of(load_verify_key(old))
    old.unlink()
    return (
        f"dropped the retired key (kid {kid}). Restart the token server: runners verifying "
        "through --jwks-url refuse its tokens after their next JWKS refresh."
    )
