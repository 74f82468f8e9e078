"""`python -m crm_kit.nats_setup`: set NATS up for the platform.

streams       create or update every stream as the provisioner, with
              NATS_STREAM_REPLICAS copies (default 1; 3 on a 3-node cluster), waiting for
              JetStream to be ready (the Kubernetes init Job runs this)
k8s-secrets   print Kubernetes Secrets with fresh credentials: every party's nkey seed,
              the server's authorization and cluster blocks, every party's internal
              signing key, each service's MongoDB URI with a new password (and the
              mongosh script creating those users, `crm-mongodb-users`), the capture
              service's key for the mailbox passwords it stores
              (`crm-capture-secret-key`), and with --jwt-public-key the identity
              provider's key (`kubectl apply -n crm -f -`)
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import sys
import time
from collections.abc import Iterator
from typing import Any

import nkeys
import yaml
from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from crm_contracts.access import PARTY_NAMES
from crm_contracts.streams import SERVICES

from . import nats_auth, nats_io

PROVISIONER = "provisioner"
# Parties that sign internal assertions: the gateway (to the subgraphs) and every party
# that makes NATS requests.
SIGNERS = ("gateway", *(name for name in PARTY_NAMES if name != PROVISIONER))


async def provision(url: str, replicas: int = 1, timeout: float = 60.0) -> None:
    """Create the platform's streams as the provisioner, retrying while JetStream starts
    (a new cluster first elects its meta leader)."""
    nc = await nats_io.connect(url, user=PROVISIONER)
    deadline = time.monotonic() + timeout
    try:
        while True:
            try:
                await nats_io.provision_streams(nc.jetstream(timeout=5), replicas)
                return
            except Exception:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.5)
    finally:
        await nc.close()


def _secret(name: str, data: dict[str, str], namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": namespace},
        "type": "Opaque",
        "stringData": data,
    }


def cluster_block(namespace: str, size: int, password: str) -> dict[str, Any]:
    routes = [
        f"nats-route://{nats_auth.ROUTE_USER}:{password}@nats-{i}.nats.{namespace}.svc:6222"
        for i in range(size)
    ]
    return {
        "name": "crm",
        "listen": "0.0.0.0:6222",
        "authorization": {"user": nats_auth.ROUTE_USER, "password": password},
        "routes": routes,
    }


def capture_secret_key() -> str:
    """A new key for the mailbox passwords the capture service stores (Fernet). Keep it
    when Secrets are generated again: with only a new key the stored passwords are lost.
    To rotate, list the new key first and the old one after it, comma-separated (the first
    encrypts, any decrypts: services/capture/README.md)."""
    return Fernet.generate_key().decode()


# The MongoDB replica set the services use (override with --mongodb-hosts).
MONGODB_HOSTS = "mongodb-0.mongodb:27017,mongodb-1.mongodb:27017,mongodb-2.mongodb:27017"


def mongodb_secrets(namespace: str, hosts: str, replica_set: str) -> Iterator[dict[str, Any]]:
    """A user per service limited to its own database: the URI each service mounts, and
    the script that creates the users (run it once with mongosh as an administrator)."""
    script = []
    for service in SERVICES:
        password = secrets.token_urlsafe(24)
        uri = f"mongodb://{service}:{password}@{hosts}/?replicaSet={replica_set}&authSource=admin"
        yield _secret(f"crm-mongodb-{service}", {"MONGODB_URI": uri}, namespace)
        script.append(
            f'db.getSiblingDB("admin").createUser({{user: "{service}", pwd: "{password}", '
            f'roles: [{{role: "readWrite", db: "crm_{service}"}}]}});'
        )
    yield _secret("crm-mongodb-users", {"create-users.js": "\n".join(script) + "\n"}, namespace)


def k8s_secrets(
    namespace: str,
    cluster_size: int,
    *,
    mongodb_hosts: str = MONGODB_HOSTS,
    replica_set: str = "rs0",
    jwt_public_key: str | None = None,
) -> Iterator[dict[str, Any]]:
    seeds = {
        name: nkeys.encode_seed(secrets.token_bytes(32), nkeys.PREFIX_BYTE_USER).decode()
        for name in PARTY_NAMES
    }
    public = {name: nats_auth.public_key(seed) for name, seed in seeds.items()}
    route_password = secrets.token_urlsafe(24)
    yield _secret(
        "crm-nats-server",
        {
            "auth.conf": nats_auth.render_block("authorization", nats_auth.authorization(public)),
            "cluster.conf": nats_auth.render_block(
                "cluster", cluster_block(namespace, cluster_size, route_password)
            ),
        },
        namespace,
    )
    for name, seed in seeds.items():
        yield _secret(f"crm-nats-{name}", {"seed": seed + "\n"}, namespace)
    public_pems: dict[str, str] = {}
    for name in SIGNERS:
        key = Ed25519PrivateKey.generate()
        private = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        public_pems[f"{name}.pub"] = (
            key.public_key()
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            .decode()
        )
        yield _secret(f"crm-internal-{name}", {"key.pem": private.decode()}, namespace)
    yield _secret("crm-internal-public-keys", public_pems, namespace)
    yield from mongodb_secrets(namespace, mongodb_hosts, replica_set)
    yield _secret("crm-capture-secret-key", {"fernet.key": capture_secret_key()}, namespace)
    if jwt_public_key is not None:
        yield _secret("crm-jwt", {"public.pem": jwt_public_key}, namespace)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m crm_kit.nats_setup")
    commands = parser.add_subparsers(dest="command", required=True)
    streams = commands.add_parser("streams", help="create or update the streams")
    streams.add_argument("--nats-url", default=os.environ.get("NATS_URL", "nats://127.0.0.1:4222"))
    streams.add_argument(
        "--replicas", type=int, default=int(os.environ.get("NATS_STREAM_REPLICAS") or 1)
    )
    secrets_cmd = commands.add_parser("k8s-secrets", help="print Secrets with new credentials")
    secrets_cmd.add_argument("--namespace", default="crm")
    secrets_cmd.add_argument("--cluster-size", type=int, default=3)
    secrets_cmd.add_argument("--mongodb-hosts", default=MONGODB_HOSTS)
    secrets_cmd.add_argument("--replica-set", default="rs0")
    secrets_cmd.add_argument(
        "--jwt-public-key", type=argparse.FileType(), help="the identity provider's PEM key"
    )
    args = parser.parse_args(argv)
    if args.command == "streams":
        asyncio.run(provision(args.nats_url, args.replicas))
        print(f"streams ready with {args.replicas} replica(s)")
        return 0
    documents = k8s_secrets(
        args.namespace,
        args.cluster_size,
        mongodb_hosts=args.mongodb_hosts,
        replica_set=args.replica_set,
        jwt_public_key=args.jwt_public_key.read() if args.jwt_public_key else None,
    )
    yaml.safe_dump_all(documents, sys.stdout, sort_keys=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
