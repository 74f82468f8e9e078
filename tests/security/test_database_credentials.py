"""The local FerretDB requires credentials (SCRAM-SHA-256), as MongoDB does in production:
a client without them, or with a wrong password, reads and writes nothing."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

import pytest
from pymongo import AsyncMongoClient
from pymongo.errors import OperationFailure

from crm_kit.devstack import InfraStack

pytestmark = pytest.mark.integration


def _with_credentials(uri: str, userinfo: str) -> str:
    parts = urlsplit(uri)
    host = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit(parts._replace(netloc=f"{userinfo}{host}"))


@pytest.mark.parametrize("userinfo", ["", "crm:wrong-password@", "intruder:guess@"])
async def test_no_or_wrong_credentials_are_refused(
    infra: InfraStack, db_name: str, userinfo: str
) -> None:
    client: AsyncMongoClient = AsyncMongoClient(
        _with_credentials(infra.mongodb_uri, userinfo), serverSelectionTimeoutMS=2000
    )
    try:
        with pytest.raises(OperationFailure) as refused:
            await client[db_name]["things"].insert_one({"_id": "x"})
        assert refused.value.code in (13, 18)  # Unauthorized, AuthenticationFailed
    finally:
        await client.close()
    owner: AsyncMongoClient = AsyncMongoClient(infra.mongodb_uri)
    try:
        assert await owner[db_name]["things"].count_documents({}) == 0
    finally:
        await owner.close()
