"""The per-request floor of each subgraph in process: `{ __typename }` through the
service's whole ASGI app (the gate: body, the gateway's assertion, shape limits; GraphQL;
the JSON answer), each request with an assertion of its own, as the gateway sends them
(a fresh signature over each body: the gate's cache of verified assertions never hits),
then the Ed25519 parts alone, libsodium (`crm_kit.ed25519`) against OpenSSL
(`cryptography`) and PyJWT's encode, in the same run.

    .venv/bin/python bench/load/floor.py [--requests 2000] [--only contacts,deals,tasks]
        [--compare]

CPU milliseconds per request (`time.process_time()`; the assertions are minted before
the clock starts); uvicorn's HTTP parsing and the network are not included. `--compare`
also runs the same requests with the gate's check as it was before libsodium (OpenSSL's
Ed25519, the segments parsed by `json`), in alternating blocks of 100 in one process."""

from __future__ import annotations

import argparse
import asyncio
import binascii
import contextlib
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import jwt  # noqa: E402
import orjson  # noqa: E402
from cryptography.exceptions import InvalidSignature  # noqa: E402
from cryptography.hazmat.primitives.asymmetric.ed25519 import (  # noqa: E402
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from inprocess import (  # type: ignore[import-not-found]  # noqa: E402
    ASSERTION_HEADER,
    WORKSPACE,
    Call,
    contacts_app,
    deals_app,
    tasks_app,
)

from crm_kit import assertions  # noqa: E402
from crm_kit.context import RequestContext  # noqa: E402
from crm_kit.testing import gateway_auth, running_app  # noqa: E402

APPS = {"contacts": contacts_app, "deals": deals_app, "tasks": tasks_app}


def fresh_calls(service: str, count: int) -> list[Call]:
    """`{ __typename }` with a distinct body each (a variable nobody reads), each with an
    assertion signed over its own body."""
    auth = gateway_auth(service, WORKSPACE, "rep-0", "admin")
    calls = []
    for n in range(count):
        body = orjson.dumps({"query": "{ __typename }", "variables": {"n": n}})
        headers = [
            (b"host", b"test"),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (ASSERTION_HEADER.encode(), auth.assertion(body).encode()),
        ]
        calls.append(Call(body, headers))
    return calls


def _openssl_verify(public_key: bytes, signature: bytes, message: bytes) -> bool:
    key = Ed25519PublicKey.from_public_bytes(public_key)
    try:
        key.verify(signature, message)
    except InvalidSignature:
        return False
    return True


def _json_segment(segment: str) -> dict[str, object]:
    try:
        padded = segment.translate(str.maketrans("-_", "+/")) + "=" * (-len(segment) % 4)
        value = json.loads(binascii.a2b_base64(padded, strict_mode=True))
    except (ValueError, binascii.Error):
        raise assertions.AssertionError_("malformed internal assertion") from None
    if not isinstance(value, dict):
        raise assertions.AssertionError_("malformed internal assertion")
    return value


@contextlib.contextmanager
def checked_as_before(on: bool) -> Iterator[None]:
    """The gate's check as before `crm_kit.ed25519`: OpenSSL's Ed25519 (a key object made
    per check costs ~1 us of the 150) and `json`."""
    if not on:
        yield
        return
    names = vars(assertions)
    saved = names["verify_ed25519"], names["_json_segment"]
    names["verify_ed25519"], names["_json_segment"] = _openssl_verify, _json_segment
    try:
        yield
    finally:
        names["verify_ed25519"], names["_json_segment"] = saved


async def floor_of(service: str, requests: int, compare: bool) -> dict[bool, float]:
    """CPU ms per request, now (False) and, with `compare`, as before (True)."""
    app = APPS[service]()
    async with running_app(app):
        for before in (False, True) if compare else (False,):
            with checked_as_before(before):
                for call in fresh_calls(service, 20):
                    status, content = await call(app)
                    if status != 200 or b'"errors"' in content:
                        raise SystemExit(f"{service}: HTTP {status} {content[:300]!r}")
        spent = {False: 0.0, True: 0.0}
        block = 100
        for n in range(0, requests, block):
            for before in (False, True) if compare else (False,):
                calls = fresh_calls(service, min(block, requests - n))
                with checked_as_before(before):
                    started = time.process_time()
                    for call in calls:
                        await call(app)
                    spent[before] += time.process_time() - started
        return {before: spent[before] * 1000 / requests for before in spent if spent[before]}


def timed(work: Sequence[Any], run: Callable[[Any], object]) -> float:
    started = time.process_time()
    for item in work:
        run(item)
    return (time.process_time() - started) * 1e6 / len(work)


def signatures(count: int) -> None:
    """Microseconds of CPU per signature check and per minted assertion, both ways."""
    from crm_kit.ed25519 import raw_public_key, sign_ed25519, signing_key, verify_ed25519

    key = Ed25519PrivateKey.generate()
    public, raw, secret = key.public_key(), raw_public_key(key.public_key()), signing_key(key)
    messages = [b"x" * 200 + str(n).encode() for n in range(count)]
    signed = [(key.sign(m), m) for m in messages]
    openssl = timed(signed, lambda s: public.verify(*s))
    sodium = timed(signed, lambda s: verify_ed25519(raw, *s))
    ring = assertions.KeyRing("gateway", key, Path(tempfile.gettempdir()))
    caller = RequestContext("demo", "rep-0", frozenset({"rep"}))

    def pyjwt_mint(body: bytes) -> str:  # what `KeyRing.mint` did before
        now = int(time.time())
        claims = {"iss": "gateway", "aud": "subgraph:deals", "sub": caller.subject,
                  "ws": caller.workspace_id, "roles": sorted(caller.roles), "iat": now,
                  "exp": now + 60, "bh": assertions.body_hash(body)}  # fmt: skip
        return jwt.encode(claims, key, algorithm="EdDSA")

    pyjwt = minted = 0.0
    for _ in range(3):  # alternating rounds
        pyjwt += timed(messages, pyjwt_mint) / 3
        minted += (
            timed(messages, lambda m: ring.mint(audience="subgraph:deals", context=caller, body=m))
            / 3
        )
    openssl_sign = timed(messages, key.sign)
    sodium_sign = timed(messages, lambda m: sign_ed25519(secret, m))
    print(f"verify: OpenSSL {openssl:6.1f} us, libsodium {sodium:6.1f} us: "
          f"{sodium / openssl:.2f}x")  # fmt: skip
    print(f"sign:   OpenSSL {openssl_sign:6.1f} us, libsodium {sodium_sign:6.1f} us: "
          f"{sodium_sign / openssl_sign:.2f}x")  # fmt: skip
    print(f"a whole assertion (claims, body hash, signature): through PyJWT {pyjwt:6.1f} us, "
          f"KeyRing.mint {minted:6.1f} us: {minted / pyjwt:.2f}x")  # fmt: skip


async def run(requests: int, only: list[str], compare: bool) -> None:
    results = {service: await floor_of(service, requests, compare) for service in only}
    print(f"\n== {{ __typename }} in process, {requests} requests each, a fresh assertion each")
    print(f"load average: {' '.join(f'{n:.2f}' for n in os.getloadavg())}")
    for service, per in results.items():
        line = f"{service:9} {per[False]:6.3f} ms CPU per request"
        if True in per:
            line += f"; before (OpenSSL, json) {per[True]:6.3f}: {per[False] / per[True]:.2f}x"
        print(line)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--only", default="contacts,deals,tasks")
    parser.add_argument("--compare", action="store_true", help="as before too, alternating")
    args = parser.parse_args()
    asyncio.run(run(args.requests, args.only.split(","), args.compare))
    signatures(args.requests)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
