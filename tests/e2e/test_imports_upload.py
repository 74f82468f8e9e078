"""Files uploaded through the gateway by the GraphQL multipart request spec, each committed
fixture of an odd kind (encodings, delimiters, quoted line breaks, CRLF, a malformed row,
duplicated headers, XLSX, a report export with a cover sheet and title rows, empty, header
only) and a large file made on the fly: the
preview tells how each was read, and what cannot be a table is refused naming the file.
The multipart request itself is checked (spec errors, the size limit, who may upload).

These need no record owner: the runs are in test_imports_journeys.py."""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit

import httpx
import orjson
import pytest

from ..conftest import Stack
from .helpers import new_workspace
from .imports_client import CREATE, Importer

pytestmark = pytest.mark.e2e

HEADER = ["Name", "Domain", "Industry", "Employees", "Company ID"]
READ_AS = {
    # fixture: (format, encoding, delimiter)
    "utf8-bom-comma.csv": ("csv", "utf-8", ","),
    "utf16-tab.csv": ("csv", "utf-16-le", "\t"),
    "cp1252-semicolon.csv": ("csv", "cp1252", ";"),
    "pipe.csv": ("csv", "utf-8", "|"),
    "quoted-newlines-crlf.csv": ("csv", "utf-8", ","),
    "companies.xlsx": ("xlsx", None, None),
}


@pytest.fixture
async def importer(stack: Stack) -> Importer:
    async with httpx.AsyncClient(timeout=120.0) as http:
        yield Importer(http, stack.gateway_url, new_workspace())


@pytest.mark.parametrize("name", sorted(READ_AS))
async def test_each_encoding_and_delimiter_is_read(importer: Importer, name: str) -> None:
    job = await importer.fixture(name)
    preview = job["preview"]
    assert (preview["format"], preview["encoding"], preview["delimiter"]) == READ_AS[name]
    assert preview["header"] == HEADER and preview["sampledRows"] == 3
    mapping = preview["suggestedMapping"]
    assert mapping["fields"]["name"] == {"column": "Name"}
    assert mapping["fields"]["external_id"] == {"column": "Company ID"}
    names = [row["values"][0] for row in preview["rows"]]
    if name == "quoted-newlines-crlf.csv":
        assert names == ["Acme Corp", 'Beta "The Best" Ltd', "Gamma"]
        assert preview["rows"][0]["values"][2] == "Manufacturing,\r\nand repair"
        assert [row["row"] for row in preview["rows"]] == [2, 3, 4]
    else:
        assert names == ["Acme Corp", "Brüder Müller GmbH", "Café Élan"]
    assert job["status"] == "DRAFT" and job["fileName"] == name


async def test_a_report_export_is_read_past_its_cover_sheet_and_titles(
    importer: Importer,
) -> None:
    preview = (await importer.fixture("report-export.xlsx"))["preview"]
    assert (preview["sheet"], preview["headerRow"], preview["header"]) == (
        "Companies",
        4,
        HEADER,
    )
    assert [row["row"] for row in preview["rows"]] == [5, 6, 7]
    notes = " | ".join(preview["notes"])
    assert "row(s) 1, 2 above the header (row 4) read as a title" in notes
    assert "read sheet 'Companies'; the workbook also has 'About'" in notes


async def test_a_malformed_row_and_duplicated_headers_are_named(importer: Importer) -> None:
    malformed = (await importer.fixture("malformed-row.csv"))["preview"]
    found = {(i["row"], i["code"], i["column"]) for i in malformed["issues"]}
    assert (3, "too_many_fields", "column 6") in found
    assert (4, "too_few_fields", "Employees") in found
    duplicated = (await importer.fixture("duplicated-headers.csv"))["preview"]
    assert duplicated["header"] == ["Name", "Domain", "Name (2)", "Employees", "Company ID"]
    assert [(i["row"], i["code"]) for i in duplicated["issues"]] == [(1, "duplicate_header")]


@pytest.mark.parametrize(
    ("name", "reason"), [("empty.csv", "EMPTY_FILE"), ("header-only.csv", "NO_DATA_ROWS")]
)
async def test_what_is_no_table_is_refused_naming_the_file(
    importer: Importer, name: str, reason: str
) -> None:
    from .imports_client import FIXTURES

    body = await importer.create((FIXTURES / name).read_bytes(), name)
    error = body["errors"][0]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert (error["extensions"]["field"], error["extensions"]["reason"]) == ("file", reason)


async def test_a_large_file_made_on_the_fly_is_previewed_from_a_sample(
    importer: Importer,
) -> None:
    rows = 200_000
    lines = ["Id,Name,Domain,Employees"] + [
        f"X{n},Company {n},c{n}.example,{n % 500}" for n in range(rows)
    ]
    content = ("\n".join(lines) + "\n").encode()
    assert len(content) > 8_000_000
    job = (await importer.create(content, "large.csv"))["data"]["createImport"]
    assert job["fileSize"] == len(content)
    preview = job["preview"]
    assert preview["sampledRows"] == 1000 and preview["moreRows"] is True
    assert {c["name"]: c["type"] for c in preview["columns"]}["Employees"] == "integer"


async def test_multipart_requests_follow_the_spec(importer: Importer) -> None:
    http, url, headers = importer.http, importer.url, importer.headers
    operations = orjson.dumps({"query": CREATE, "variables": {"file": None, "kind": "COMPANIES"}})
    files = {"0": ("a.csv", b"Name\nAcme\n", "text/csv")}
    no_map = await http.post(
        url, headers=headers, data={"operations": operations.decode()}, files=files
    )
    assert no_map.status_code == 400
    assert no_map.json()["errors"][0]["extensions"]["field"] == "map"
    outside = await http.post(
        url,
        headers=headers,
        files=files,
        data={"operations": operations.decode(), "map": '{"0": ["query"]}'},
    )
    assert outside.json()["errors"][0]["extensions"]["field"] == "map"
    missing = await http.post(
        url,
        headers=headers,
        files=files,
        data={"operations": operations.decode(), "map": '{"1": ["variables.file"]}'},
    )
    assert missing.json()["errors"][0]["extensions"]["field"] == "map"
    unsigned = await http.post(
        url,
        files=files,
        data={"operations": operations.decode(), "map": '{"0": ["variables.file"]}'},
    )
    assert unsigned.status_code == 401
    rep = Importer(http, url, "e2e-rep", "rep")
    refused = await rep.create(b"Name\nAcme\n", "a.csv")
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_a_body_over_the_import_limit_is_refused_before_it_is_read(
    importer: Importer,
) -> None:
    """413 on the declared length alone (the client is told at once, nothing is spooled)."""
    parts = urlsplit(importer.url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    head = (
        f"POST {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
        f"Authorization: {importer.headers['Authorization']}\r\n"
        "Content-Type: multipart/form-data; boundary=x\r\n"
        f"Content-Length: {200 * 1024 * 1024}\r\n\r\n"
    )
    writer.write(head.encode())
    await writer.drain()
    status = await asyncio.wait_for(reader.readline(), 20.0)
    writer.close()
    assert status.split()[1] == b"413"
