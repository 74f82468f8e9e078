"""`python -m crm_kit.compose_setup`: credentials for the one-host production-like stack in
`deploy/compose/` (the same parties, permissions and key kinds as `deploy/k8s`).

secrets [--out DIR]   write fresh credentials into DIR (default deploy/compose/secrets),
                      refusing to overwrite: every party's NATS nkey seed and signing key,
                      the NATS servers' authorization and cluster blocks, the MongoDB
                      replica-set key and a user per service limited to its own database,
                      an RS256 key pair standing in for an identity provider, the
                      capture service's key for stored mailbox passwords, and the
                      Grafana admin password (profile `monitoring`)
token [--out DIR] --workspace W --subject S --role R
                      print a bearer token signed with that key pair (the stack's issuer)

The directory is for one host: mode 0700, git-ignored. Files that containers read are
0644 inside it (containers run as other users; the directory keeps everyone else out).
"""

from __future__ import annotations

import argparse
import base64
import secrets
import sys
from pathlib import Path
from typing import Any

import jwt
import nkeys
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from crm_contracts.access import PARTY_NAMES
from crm_contracts.streams import SERVICES

from . import nats_auth
from .auth import token_claims
from .nats_setup import SIGNERS, capture_secret_key

DEFAULT_DIR = Path("deploy/compose/secrets")
NATS_NODES = ("nats1", "nats2", "nats3")
MONGO_NODES = ("mongo1", "mongo2", "mongo3")
# The stand-in identity provider's claims; compose.yaml sets the same on every part.
ISSUER = "https://crm.compose.local/"
AUDIENCE = "crm"


def cluster_block(password: str) -> dict[str, Any]:
    routes = [f"nats-route://{nats_auth.ROUTE_USER}:{password}@{n}:6222" for n in NATS_NODES]
    return {
        "name": "crm",
        "listen": "0.0.0.0:6222",
        "authorization": {"user": nats_auth.ROUTE_USER, "password": password},
        "routes": routes,
    }


def mongodb_uri(service: str, password: str) -> str:
    hosts = ",".join(f"{node}:27017" for node in MONGO_NODES)
    return f"mongodb://{service}:{password}@{hosts}/?replicaSet=rs0&authSource=admin"


def _pem_private(key: Any) -> bytes:
    return bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )


def _pem_public(key: Any) -> bytes:
    return bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )


def generate() -> dict[str, bytes]:
    """Every file of a fresh secrets directory, by path relative to it."""
    files: dict[str, bytes] = {}
    seeds = {
        name: nkeys.encode_seed(secrets.token_bytes(32), nkeys.PREFIX_BYTE_USER).decode()
        for name in PARTY_NAMES
    }
    public = {name: nats_auth.public_key(seed) for name, seed in seeds.items()}
    files["nats/auth.conf"] = nats_auth.render_block(
        "authorization", nats_auth.authorization(public)
    ).encode()
    files["nats/cluster.conf"] = nats_auth.render_block(
        "cluster", cluster_block(secrets.token_urlsafe(24))
    ).encode()
    for name, seed in seeds.items():
        files[f"nats-credentials/{name}.nk"] = (seed + "\n").encode()
    for name in SIGNERS:
        key = ed25519.Ed25519PrivateKey.generate()
        files[f"internal/{name}.key"] = _pem_private(key)
        files[f"internal-public/{name}.pub"] = _pem_public(key)
    identity = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    files["jwt/private.pem"] = _pem_private(identity)
    files["jwt/public.pem"] = _pem_public(identity)
    # A replica set with access control needs a shared key for its members (base64, <1 KB).
    files["mongo/keyfile"] = base64.b64encode(secrets.token_bytes(96)) + b"\n"
    files["mongo/root.password"] = secrets.token_urlsafe(24).encode()
    files["grafana/admin.password"] = secrets.token_urlsafe(24).encode()
    files["capture/secret.key"] = capture_secret_key().encode()
    for service in SERVICES:
        password = secrets.token_urlsafe(24)
        files[f"mongo/{service}.password"] = password.encode()
        files[f"env/{service}.env"] = f"MONGODB_URI={mongodb_uri(service, password)}\n".encode()
    return files


def write(out: Path) -> list[Path]:
    if out.exists() and any(out.iterdir()):
        raise SystemExit(f"{out} already holds credentials; remove it to make new ones")
    out.mkdir(parents=True, exist_ok=True)
    out.chmod(0o700)
    written = []
    for relative, content in generate().items():
        path = out / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        path.chmod(0o644)
        written.append(path)
    return written


def token(out: Path, workspace: str, subject: str, roles: list[str], hours: float = 12) -> str:
    private = (out / "jwt" / "private.pem").read_bytes()
    claims = token_claims(
        workspace, subject, roles, int(hours * 3600), issuer=ISSUER, audience=AUDIENCE
    )
    return jwt.encode(claims, private, algorithm="RS256")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m crm_kit.compose_setup")
    commands = parser.add_subparsers(dest="command", required=True)
    make = commands.add_parser("secrets", help="write fresh credentials")
    make.add_argument("--out", type=Path, default=DEFAULT_DIR)
    mint = commands.add_parser("token", help="print a bearer token for the compose stack")
    mint.add_argument("--out", type=Path, default=DEFAULT_DIR)
    mint.add_argument("--workspace", default="demo")
    mint.add_argument("--subject", default="admin")
    mint.add_argument("--role", default="admin")
    args = parser.parse_args(argv)
    if args.command == "secrets":
        written = write(args.out)
        print(f"wrote {len(written)} files under {args.out}")
        return 0
    print(token(args.out, args.workspace, args.subject, args.role.split(",")))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
