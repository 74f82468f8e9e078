"""NATS credentials (nkeys) and the server's per-party permissions.

Every party of `crm_contracts.access` is one NATS user identified by an nkey: an Ed25519
key pair whose seed only the party holds. The server's configuration lists public keys
only, and a client proves its key by signing the server's nonce, so neither the config
nor the connection ever carries a secret (user + password would put a bearer secret on
the wire and a hash of it in the server config).

Seeds: `NATS_NKEY_SEED_FILE` (production: mounted from the party's Secret). In
development each seed is created once into `<data dir>/nats-credentials/<party>.nk`
(O_EXCL, mode 0600, like the JWT dev secret); the tests use a data directory of their own
per run. Each party's replies arrive on its own inbox prefix (`_INBOX_<party>`), which only
it may subscribe to, so no party can read the replies meant for another.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import nkeys

from crm_contracts.access import PARTIES, Party
from crm_contracts.streams import (
    DEAD_LETTER_STREAM,
    SERVICES,
    max_deliveries_advisory,
    stream_for,
)

from .paths import data_dir, write_once

SEED_FILE_ENV = "NATS_NKEY_SEED_FILE"
# Test runs only: a user allowed everything, standing in for the tests' own set-up and
# tear-down (creating throwaway streams, publishing synthetic events). Never in `make run`
# or in the Kubernetes configuration.
HARNESS = "harness"
ROUTE_USER = "route"
RESPONSE_WINDOW = "15m"


def inbox_prefix(user: str) -> str:
    return f"_INBOX_{user}"


def credentials_dir() -> Path:
    return Path(os.environ.get("NATS_CREDENTIALS_DIR") or data_dir() / "nats-credentials")


def ensure_seed(path: Path) -> str:
    """The user seed in `path`, created on first use."""
    seed = nkeys.encode_seed(secrets.token_bytes(32), nkeys.PREFIX_BYTE_USER).decode()
    return write_once(path, seed + "\n")


def public_key(seed: str) -> str:
    return str(nkeys.from_seed(bytearray(seed.encode())).public_key.decode())


def dev_seed_file(user: str) -> Path:
    return credentials_dir() / f"{user}.nk"


def seed_file_for(user: str) -> Path | None:
    """The seed this process connects with as `user`: NATS_NKEY_SEED_FILE (production: one
    identity per process), else the development seed if one was generated."""
    configured = os.environ.get(SEED_FILE_ENV)
    if configured:
        return Path(configured)
    candidate = dev_seed_file(user)
    return candidate if candidate.is_file() else None


def route_password() -> str:
    """The password the servers of a local cluster use between themselves."""
    return write_once(credentials_dir() / "routes.secret", secrets.token_urlsafe(24))


def _dedup(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))


def _stream_info(stream: str) -> str:
    return f"$JS.API.STREAM.INFO.{stream}"


def _durable_subjects(stream: str, durable: str) -> list[str]:
    """Create (either API form), look up, pull from and acknowledge one durable consumer;
    and read an event of the stream by its sequence, which the durable's max-deliveries
    advisory names (that advisory's subject is among the subscriptions)."""
    return [
        _stream_info(stream),
        f"$JS.API.CONSUMER.DURABLE.CREATE.{stream}.{durable}",
        f"$JS.API.CONSUMER.CREATE.{stream}.{durable}",
        f"$JS.API.CONSUMER.CREATE.{stream}.{durable}.>",
        f"$JS.API.CONSUMER.INFO.{stream}.{durable}",
        f"$JS.API.CONSUMER.MSG.NEXT.{stream}.{durable}",
        f"$JS.ACK.{stream}.{durable}.>",
        f"$JS.API.STREAM.MSG.GET.{stream}",
    ]


def permissions(party: Party) -> dict[str, Any]:
    """The NATS permissions of one party (see the table in the README)."""
    publish: list[str] = []
    subscribe = [f"{inbox_prefix(party.name)}.>"]
    if party.service:
        name, stream = party.name, stream_for(party.name).name
        publish += [f"crm.{name}.>", f"dlq.{name}.>"]
        publish += [_stream_info(stream), _stream_info(DEAD_LETTER_STREAM.name)]
        # The read index follows its own stream with ephemeral ordered consumers (push,
        # flow-controlled, delivered to this party's inbox).
        publish += [f"$JS.API.CONSUMER.CREATE.{stream}", f"$JS.FC.{stream}.>"]
        micro = f"crm-{name}"
        subscribe += [f"rpc.{name}.>", "$SRV.*", f"$SRV.*.{micro}", f"$SRV.*.{micro}.*"]
    for followed in party.follows:
        # The same on another service's stream (teams and settings held per process).
        other = stream_for(followed).name
        publish += [f"$JS.API.CONSUMER.CREATE.{other}", f"$JS.FC.{other}.>"]
    for durable in party.durables:
        publish += _durable_subjects(stream_for(durable.owner).name, durable.name)
        subscribe.append(max_deliveries_advisory(stream_for(durable.owner).name, durable.name))
    publish += party.requests
    if party.provisions_streams:
        publish.append("$JS.API.INFO")
        for stream in [*(stream_for(s).name for s in SERVICES), DEAD_LETTER_STREAM.name]:
            publish += [
                f"$JS.API.STREAM.CREATE.{stream}",
                f"$JS.API.STREAM.UPDATE.{stream}",
                _stream_info(stream),
            ]
    rules: dict[str, Any] = {
        "publish": {"allow": _dedup(publish)},
        "subscribe": {"allow": _dedup(subscribe)},
    }
    if party.service:
        # Answer each request it received, once, and nothing else on other inboxes. The
        # server's default of 2 minutes to answer is too short for the longest endpoint
        # (training a win model on a busy machine: the CLI waits up to 10 minutes).
        rules["allow_responses"] = {"max": 1, "expires": RESPONSE_WINDOW}
    return rules


def harness_permissions() -> dict[str, Any]:
    return {"publish": {"allow": [">"]}, "subscribe": {"allow": [">"]}}


def authorization(public_keys: Mapping[str, str]) -> dict[str, Any]:
    """The server's `authorization` block for the parties in `public_keys` (name -> nkey).
    Every connection must present one of these keys: there is no anonymous user."""
    by_name = {party.name: party for party in PARTIES}
    users = []
    for name, key in public_keys.items():
        rules = harness_permissions() if name == HARNESS else permissions(by_name[name])
        users.append({"nkey": key, "permissions": rules})
    return {"users": users}


def dev_authorization(*, harness: bool = False) -> dict[str, Any]:
    """Seeds for every party (created once) and the authorization block that admits them."""
    names = [party.name for party in PARTIES] + ([HARNESS] if harness else [])
    return authorization({name: public_key(ensure_seed(dev_seed_file(name))) for name in names})


def render(config: Mapping[str, Any]) -> str:
    """A nats-server configuration file (its format accepts JSON)."""
    return json.dumps(config, indent=2) + "\n"


def render_block(name: str, value: Mapping[str, Any]) -> str:
    """One top-level block (`name: {...}`), for a file the server's config `include`s."""
    return f"{name}: {json.dumps(value, indent=2)}\n"
