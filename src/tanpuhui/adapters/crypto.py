"""Ed25519 keys and signatures (the `cryptography` package), and secret tokens.

The server only ever holds public keys; `generate_key` is for the CLI and the demo, which hand
the private key to the enterprise once.
"""

from __future__ import annotations

import base64
import hashlib
import secrets

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from tanpuhui.domain.errors import InvalidInputError


def generate_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def private_pem(key: Ed25519PrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def public_raw(key: Ed25519PrivateKey | Ed25519PublicKey) -> bytes:
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def public_pem(raw: bytes) -> str:
    return (
        Ed25519PublicKey.from_public_bytes(raw)
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def load_private_key(pem: str | bytes) -> Ed25519PrivateKey:
    data = pem.encode() if isinstance(pem, str) else pem
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError):
        raise InvalidInputError("not a PEM private key") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise InvalidInputError("the private key must be an Ed25519 key")
    return key


def load_public_key(data: str | bytes) -> bytes:
    """A public key as raw 32 bytes, from PEM (SubjectPublicKeyInfo), base64 or raw bytes."""
    blob = data.encode() if isinstance(data, str) else data
    if b"BEGIN PUBLIC KEY" in blob:
        try:
            key = serialization.load_pem_public_key(blob)
        except ValueError:
            raise InvalidInputError("not a PEM public key") from None
        if not isinstance(key, Ed25519PublicKey):
            raise InvalidInputError("the public key must be an Ed25519 key")
        return public_raw(key)
    if len(blob) != 32:
        try:
            blob = base64.b64decode(blob.strip(), validate=True)
        except ValueError:
            raise InvalidInputError("not an Ed25519 public key") from None
    if len(blob) != 32:
        raise InvalidInputError("an Ed25519 public key has 32 bytes")
    return blob


def sign(key: Ed25519PrivateKey, message: bytes) -> str:
    return base64.b64encode(key.sign(message)).decode()


class Ed25519Verifier:
    """The `SignatureVerifier` port: does `signature` (base64) sign `message` for `public_key`?"""

    def verify(self, public_key: bytes, signature: str, message: bytes) -> bool:
        try:
            raw = base64.b64decode(signature, validate=True)
            Ed25519PublicKey.from_public_bytes(public_key).verify(raw, message)
        except (ValueError, InvalidSignature):
            return False
        return True


def new_token(nbytes: int = 32) -> str:
    return secrets.token_urlsafe(nbytes)


def token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def random_code(alphabet: str, length: int) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(length))


class SystemSecrets:
    """The `SecretSource` port: OS randomness and SHA-256."""

    def new_token(self) -> str:
        return new_token()

    def random_code(self, alphabet: str, length: int) -> str:
        return random_code(alphabet, length)

    def digest(self, secret: str) -> bytes:
        return token_hash(secret)


#: The publicly known key `dev` mode signs checkpoints with when none is configured (prod
#: refuses to start without one): anyone can forge these, which is fine for a laptop.
DEV_CHECKPOINT_SEED = hashlib.sha256(b"tanpuhui dev checkpoint key - not secret").digest()


class Ed25519NoteSigner:
    """The `NoteSigner` port: signs checkpoint notes with the platform's Ed25519 key."""

    def __init__(self, name: str, key: Ed25519PrivateKey) -> None:
        self.name = name
        self._key = key
        self.public_key = public_raw(key)

    def sign(self, message: bytes) -> bytes:
        return self._key.sign(message)


def load_signing_key(text: str) -> Ed25519PrivateKey:
    """An Ed25519 private key from PKCS#8 PEM or a base64 32-byte seed."""
    try:
        if "-----BEGIN" in text:
            key = serialization.load_pem_private_key(text.encode(), password=None)
            if not isinstance(key, Ed25519PrivateKey):
                raise ValueError("not an Ed25519 key")
            return key
        return Ed25519PrivateKey.from_private_bytes(base64.b64decode(text, validate=True))
    except (ValueError, TypeError):
        raise InvalidInputError(
            "the checkpoint key is neither an Ed25519 PKCS#8 PEM nor a base64 32-byte seed",
            code="bad_checkpoint_key",
        ) from None


def checkpoint_signer(origin: str, key_text: str) -> Ed25519NoteSigner:
    """The configured signer (`key_text` empty: the dev key)."""
    key = (
        load_signing_key(key_text)
        if key_text.strip()
        else Ed25519PrivateKey.from_private_bytes(DEV_CHECKPOINT_SEED)
    )
    return Ed25519NoteSigner(origin, key)


def seed_base64(key: Ed25519PrivateKey) -> str:
    raw = key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    return base64.b64encode(raw).decode()
