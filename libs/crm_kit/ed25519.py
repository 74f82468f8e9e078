"""Ed25519 signatures made and checked through libsodium (PyNaCl, already pinned for
NATS's nkeys); the keys stay `cryptography`'s objects (PEM files, key generation).

Why not `cryptography`'s `Ed25519PublicKey.verify`: every request a subgraph serves
carries an assertion signed over its own body (`crm_kit.assertions`), so one check per
request is unavoidable, and OpenSSL's costs about 2.3x libsodium's on this project's
machines (170 against 72 us of CPU, `bench/load/floor.py`): a fifth of the cheapest
request's CPU became a tenth.

libsodium is the stricter of the two (it refuses non-canonical signatures and
small-order keys and points, which OpenSSL accepts); a signature made by either library
over the same bytes passes both, and Ed25519 signing is deterministic, so libsodium signs
the very bytes OpenSSL would (`libs/tests/unit/test_ed25519.py`). Signing: 45 against 75
to 100 us for a whole assertion (PyJWT's encode), once per subgraph fetch at the gateway."""

from __future__ import annotations

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from nacl.bindings import crypto_sign, crypto_sign_BYTES, crypto_sign_open, crypto_sign_seed_keypair
from nacl.exceptions import CryptoError

__all__ = ["raw_public_key", "sign_ed25519", "signing_key", "verify_ed25519"]


def raw_public_key(key: Ed25519PublicKey) -> bytes:
    """The key's 32 bytes, as libsodium takes it."""
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def verify_ed25519(public_key: bytes, signature: bytes, message: bytes) -> bool:
    """Whether `signature` is `public_key`'s over exactly `message`."""
    if len(signature) != crypto_sign_BYTES:
        return False
    try:
        crypto_sign_open(signature + message, public_key)
    except CryptoError:  # a bad signature, or a key libsodium refuses
        return False
    return True


def signing_key(key: Ed25519PrivateKey) -> bytes:
    """The 64 bytes libsodium signs with (the key's seed, then its public key)."""
    seed = key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    return crypto_sign_seed_keypair(seed)[1]


def sign_ed25519(secret_key: bytes, message: bytes) -> bytes:
    """The 64-byte signature of `message` (deterministic: the same as OpenSSL's)."""
    return crypto_sign(message, secret_key)[:crypto_sign_BYTES]
