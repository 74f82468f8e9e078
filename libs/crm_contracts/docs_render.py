"""The AsyncAPI document (`crm_contracts.asyncapi`) as readable pages: `docs/events.md`
(Markdown) and `docs/asyncapi.html` (one self-contained page: no script, nothing loaded
from elsewhere). Both show the same tables, built once here."""

from __future__ import annotations

import html
from typing import Any

Row = list[str]


def _name(ref: str) -> str:
    return ref.rsplit("/", 1)[-1]


def type_of(schema: dict[str, Any]) -> str:
    """A short type for a field: `string`, `integer | null`, `[TaskSnapshot]`, `{string}`."""
    if "$ref" in schema:
        return _name(schema["$ref"])
    if "anyOf" in schema:
        return " | ".join(type_of(s) for s in schema["anyOf"])
    if "const" in schema:
        return repr(schema["const"])
    if "enum" in schema:
        return " | ".join(str(v) for v in schema["enum"])
    if schema.get("type") == "array":
        return f"[{type_of(schema.get('items', {}))}]"
    if schema.get("type") == "object" and isinstance(schema.get("additionalProperties"), dict):
        return f"{{{type_of(schema['additionalProperties'])}}}"
    return str(schema.get("type", "any"))


def _message_payload(message: dict[str, Any]) -> str:
    """The name of what an event carries in `data` (or a request's/reply's body)."""
    payload = message["payload"]
    for part in payload.get("allOf", []):
        data = part.get("properties", {}).get("data")
        if data is not None:
            return type_of(data)
    if "properties" in payload and "data" in payload["properties"]:
        return type_of(payload["properties"]["data"])
    return type_of(payload)


def _resolve(doc: dict[str, Any], ref: str) -> dict[str, Any]:
    node: Any = doc
    for part in ref.lstrip("#/").split("/"):
        node = node[part]
    return dict(node)


def event_rows(doc: dict[str, Any]) -> list[Row]:
    rows = []
    for channel in doc["channels"].values():
        address = channel.get("address")
        if not address or not address.startswith("crm."):
            continue
        message = _resolve(doc, next(iter(channel["messages"].values()))["$ref"])
        rows.append([address, channel["x-stream"], _message_payload(message)])
    return rows


def endpoint_rows(doc: dict[str, Any]) -> list[Row]:
    rows = []
    for operation in doc["operations"].values():
        if operation["action"] != "receive":
            continue
        channel = _resolve(doc, operation["channel"]["$ref"])
        request = _resolve(doc, channel["messages"]["request"]["$ref"])
        reply_channel = _resolve(doc, operation["reply"]["channel"]["$ref"])
        reply = _resolve(doc, reply_channel["messages"]["reply"]["$ref"])
        rows.append(
            [
                channel["address"],
                operation["x-roles"],
                _message_payload(request),
                _message_payload(reply),
                ", ".join(operation["x-errors"]),
            ]
        )
    return rows


def party_rows(doc: dict[str, Any]) -> list[Row]:
    rows = []
    for party in doc["servers"]["production"]["x-parties"]:
        rows.append(
            [
                party["name"],
                ", ".join(party.get("publishes", [])) or "-",
                ", ".join(party.get("serves", [])) or "-",
                ", ".join(party.get("durables", [])) or "-",
                ", ".join(party.get("requests", [])) or "-",
            ]
        )
    return rows


def field_rows(schema: dict[str, Any]) -> list[Row]:
    required = set(schema.get("required", []))
    return [
        [name, type_of(prop), "yes" if name in required else "", prop.get("description", "")]
        for name, prop in schema.get("properties", {}).items()
    ]


def _description(schema: dict[str, Any]) -> str:
    return " ".join((schema.get("description") or "").split())


INTRO = (
    "Every event is a CloudEvents 1.0 JSON envelope (`id`, `source`, `type`, `time`, "
    "`subject`, `datacontenttype`, `workspace`, `data`) published on the NATS subject equal "
    "to its `type`, with headers `Nats-Msg-Id` (= event id: JetStream drops re-sends), "
    "`crm-workspace` and `traceparent` (the trace of the request that caused it). Subjects "
    "are `crm.<service>.<entity>.<verb>.v<N>`; within a version changes are additive only "
    "(consumers must ignore unknown fields). Delivery is at least once: consumers "
    "de-duplicate on the event id. Request/reply endpoints (NATS micro protocol) answer "
    '`{"data": ...}` or `{"error": {"code", "message"}}`; every request carries the '
    "caller's signed assertion in `crm-assertion`."
)
EVENT_HEAD = ["subject", "stream", "payload (`data`)"]
ENDPOINT_HEAD = ["subject", "roles", "request", "reply (`data`)", "errors"]
PARTY_HEAD = ["party", "publishes", "serves", "durables", "requests"]
FIELD_HEAD = ["field", "type", "required", "description"]


# --- Markdown ------------------------------------------------------------------------------


def _md_table(head: list[str], rows: list[Row], code_first: bool = True) -> list[str]:
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in rows:
        cells = [c.replace("|", "\\|") for c in row]
        if code_first:
            cells[0] = f"`{cells[0]}`"
        out.append("| " + " | ".join(cells) + " |")
    return out


def render_markdown(doc: dict[str, Any]) -> str:
    lines = [
        "# Event catalogue",
        "",
        "Generated by `python -m crm_contracts.asyncapi docs` from `libs/crm_contracts`, with",
        "the AsyncAPI 3.0 document `docs/asyncapi.yaml` (and `docs/asyncapi.html`); do not",
        "edit by hand.",
        "",
        INTRO,
        "",
        "## Events",
        "",
        *_md_table(EVENT_HEAD, event_rows(doc)),
        "",
        "## Request/reply endpoints",
        "",
        *_md_table(ENDPOINT_HEAD, endpoint_rows(doc)),
        "",
        "## Dead letters",
        "",
        _description(doc["channels"]["dead_letters"])
        + " Subject `dlq.<service>.<consumer>`, body `DeadLetter`.",
        "",
        "## Who may do what on NATS",
        "",
        _description(doc["servers"]["production"]),
        "",
        *_md_table(PARTY_HEAD, party_rows(doc)),
        "",
        "## Schemas",
        "",
    ]
    for name, schema in doc["components"]["schemas"].items():
        lines += [f"### {name}", ""]
        if _description(schema):
            lines += [_description(schema), ""]
        lines += [*_md_table(FIELD_HEAD, field_rows(schema)), ""]
    return "\n".join(lines)


# --- HTML ----------------------------------------------------------------------------------

STYLE = """
body { font: 15px/1.5 system-ui, sans-serif; margin: 2rem auto; max-width: 72rem; padding: 0 1rem;
       color: #1d2330; }
h1, h2, h3 { line-height: 1.2; } h3 { margin-top: 2rem; }
table { border-collapse: collapse; width: 100%; margin: .5rem 0 1rem; }
th, td { border: 1px solid #d5dae3; padding: .3rem .5rem; text-align: left; vertical-align: top; }
th { background: #f1f4f8; } code { font-size: 90%; background: #f1f4f8; padding: 0 .2rem; }
nav a { margin-right: 1rem; }
"""


def _cell(text: str, schemas: set[str]) -> str:
    """Escaped, with the names of known schemas linked to their tables."""
    parts = []
    for token in text.replace("[", " [ ").replace("]", " ] ").split(" "):
        if token in schemas:
            parts.append(f'<a href="#{token}">{token}</a>')
        else:
            parts.append(html.escape(token))
    return " ".join(parts).replace(" [ ", "[").replace(" ] ", "]").replace("[ ", "[")


def _html_table(head: list[str], rows: list[Row], schemas: set[str]) -> str:
    out = ["<table><tr>", *(f"<th>{html.escape(h)}</th>" for h in head), "</tr>"]
    for row in rows:
        out.append("<tr>")
        out += [f"<td><code>{html.escape(row[0])}</code></td>"]
        out += [f"<td>{_cell(cell, schemas)}</td>" for cell in row[1:]]
        out.append("</tr>")
    out.append("</table>")
    return "".join(out)


def render_html(doc: dict[str, Any]) -> str:
    schemas = doc["components"]["schemas"]
    names = set(schemas)
    info = doc["info"]
    body = [
        f"<h1>{html.escape(info['title'])}</h1>",
        f"<p>AsyncAPI {doc['asyncapi']}, version {html.escape(info['version'])}. Generated "
        "from <code>libs/crm_contracts</code> (<code>docs/asyncapi.yaml</code>).</p>",
        '<nav><a href="#events">Events</a><a href="#endpoints">Request/reply</a>'
        '<a href="#dead-letters">Dead letters</a><a href="#servers">Servers</a>'
        '<a href="#schemas">Schemas</a></nav>',
        f"<p>{html.escape(INTRO)}</p>",
        '<h2 id="events">Events</h2>',
        _html_table(EVENT_HEAD, event_rows(doc), names),
        '<h2 id="endpoints">Request/reply endpoints</h2>',
        _html_table(ENDPOINT_HEAD, endpoint_rows(doc), names),
        '<h2 id="dead-letters">Dead letters</h2>',
        f"<p>{html.escape(_description(doc['channels']['dead_letters']))} Subject "
        '<code>dlq.&lt;service&gt;.&lt;consumer&gt;</code>, body <a href="#DeadLetter">'
        "DeadLetter</a>.</p>",
        '<h2 id="servers">Servers</h2>',
    ]
    for name, server in doc["servers"].items():
        body.append(
            f"<p><strong>{html.escape(name)}</strong>: <code>{html.escape(server['host'])}"
            f"</code> ({html.escape(server['protocol'])}). "
            f"{html.escape(_description(server))}</p>"
        )
    security = doc["components"]["securitySchemes"]["nkey"]
    body.append(f"<p>Authentication: {html.escape(_description(security))}</p>")
    body.append(_html_table(PARTY_HEAD, party_rows(doc), names))
    body.append('<h2 id="schemas">Schemas</h2>')
    for name, schema in schemas.items():
        body.append(f'<h3 id="{html.escape(name)}">{html.escape(name)}</h3>')
        if _description(schema):
            body.append(f"<p>{html.escape(_description(schema))}</p>")
        body.append(_html_table(FIELD_HEAD, field_rows(schema), names))
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(info['title'])}</title><style>{STYLE}</style></head>\n"
        "<body>\n" + "\n".join(body) + "\n</body></html>\n"
    )
