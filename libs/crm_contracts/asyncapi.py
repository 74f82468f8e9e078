"""The AsyncAPI 3.0 document of the platform's NATS interface, generated from the contracts.

Every event subject (a channel the owning service sends on, its payload's JSON Schema inside
the CloudEvents envelope, its JetStream stream), every request/reply endpoint (a channel
the service receives on, with the request, the reply and the error replies), the dead-letter
subjects, and the servers with their authentication and what each party may do.

    python -m crm_contracts.asyncapi docs      # writes docs/asyncapi.yaml, .html, events.md

A contract test fails when the committed files differ from what this generates.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel

from . import catalogue
from .access import PARTIES
from .endpoints import RpcEndpoint, RpcError
from .envelope import (
    HEADER_MSG_ID,
    HEADER_TRACEPARENT,
    HEADER_WORKSPACE,
    CloudEvent,
    DeadLetter,
    service_of,
    source_of,
)
from .streams import DEAD_LETTER_STREAM, RPC_HEADER_ASSERTION, stream_for

VERSION = "1.0.0"
REF = "#/components/schemas/{model}"


def _id(subject: str) -> str:
    """A component key for a subject (keys allow letters, digits, `_` and `-`)."""
    return subject.replace(".", "_").replace("{", "").replace("}", "")


class _Schemas:
    """components/schemas: each model once, nested models beside it, names unique."""

    def __init__(self) -> None:
        self.schemas: dict[str, Any] = {}

    def ref(self, model: type[BaseModel]) -> dict[str, str]:
        schema = model.model_json_schema(by_alias=True, ref_template=REF, mode="serialization")
        for name, nested in {**schema.pop("$defs", {}), model.__name__: schema}.items():
            known = self.schemas.setdefault(name, nested)
            if known != nested:
                raise ValueError(f"two different schemas are named {name}")
        return {"$ref": REF.format(model=model.__name__)}


EVENT_HEADERS = {
    "type": "object",
    "required": [HEADER_MSG_ID, HEADER_WORKSPACE],
    "properties": {
        HEADER_MSG_ID: {
            "type": "string",
            "description": "The event id: JetStream drops a re-send within 15 minutes.",
        },
        HEADER_WORKSPACE: {"type": "string", "description": "The event's workspace."},
        HEADER_TRACEPARENT: {
            "type": "string",
            "description": "W3C trace context of the request that caused the event.",
        },
    },
}
REQUEST_HEADERS = {
    "type": "object",
    "required": [RPC_HEADER_ASSERTION],
    "properties": {
        RPC_HEADER_ASSERTION: {
            "type": "string",
            "description": "The caller's internal assertion (Ed25519-signed, 60 s, bound to "
            "the body and to the audience `rpc:<service>`) naming the party, the user or "
            "`service:<party>` it acts for, the workspace and the roles.",
        },
        HEADER_TRACEPARENT: {"type": "string", "description": "W3C trace context."},
    },
}
ERROR_HEADERS = {
    "type": "object",
    "properties": {
        "Nats-Service-Error-Code": {"type": "string", "description": "The error code."},
        "Nats-Service-Error": {"type": "string", "description": "The error message."},
    },
}


def _first_line(model: type[BaseModel]) -> str:
    doc = (model.__doc__ or "").strip()
    if not doc or doc.startswith(("Usage docs", "A base class")):
        return ""
    return " ".join(doc.split("\n\n")[0].split())


def _event_message(subject: str, model: type[BaseModel], schemas: _Schemas) -> dict[str, Any]:
    message: dict[str, Any] = {
        "name": model.__name__,
        "title": subject,
        "contentType": "application/json",
        "headers": {"$ref": REF.format(model="EventHeaders")},
        "payload": {
            "allOf": [
                {"$ref": REF.format(model="CloudEvent")},
                {
                    "type": "object",
                    "properties": {
                        "type": {"const": subject},
                        "source": {"const": source_of(service_of(subject))},
                        "data": schemas.ref(model),
                    },
                },
            ]
        },
    }
    summary = _first_line(model)
    if summary:
        message["summary"] = summary
    return message


def _parties() -> list[dict[str, Any]]:
    """What each party may do on NATS (`crm_contracts.access`; the server's permissions
    are generated from the same table by `crm_kit.nats_auth`)."""
    out = []
    for party in PARTIES:
        entry: dict[str, Any] = {"name": party.name}
        if party.service:
            entry["publishes"] = [f"crm.{party.name}.>", f"dlq.{party.name}.>"]
            entry["serves"] = [f"rpc.{party.name}.>"]
        if party.durables:
            entry["durables"] = [f"{stream_for(d.owner).name}.{d.name}" for d in party.durables]
        if party.requests:
            entry["requests"] = list(party.requests)
        if party.provisions_streams:
            entry["provisionsStreams"] = True
        out.append(entry)
    return out


def document() -> dict[str, Any]:
    schemas = _Schemas()
    schemas.ref(CloudEvent)
    schemas.schemas["EventHeaders"] = EVENT_HEADERS
    schemas.schemas["RequestHeaders"] = REQUEST_HEADERS
    schemas.schemas["ErrorHeaders"] = ERROR_HEADERS
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    for subject in sorted(catalogue.CATALOGUE):
        model = catalogue.CATALOGUE[subject]
        key = _id(subject)
        service = service_of(subject)
        messages[key] = _event_message(subject, model, schemas)
        channels[key] = {
            "address": subject,
            "title": subject,
            "description": f"Published by {service} only, through its outbox, at least once; "
            f"kept in the JetStream stream `{stream_for(service).name}`.",
            "messages": {model.__name__: {"$ref": f"#/components/messages/{key}"}},
            "x-stream": stream_for(service).name,
        }
        operations[f"send_{key}"] = {
            "action": "send",
            "channel": {"$ref": f"#/channels/{key}"},
            "title": f"{service} publishes {subject}",
            "messages": [{"$ref": f"#/channels/{key}/messages/{model.__name__}"}],
            "x-service": service,
        }
    for endpoint in sorted(catalogue.ENDPOINTS, key=lambda e: e.subject):
        _endpoint(endpoint, schemas, channels, operations, messages)
    _dead_letters(schemas, channels, operations, messages)
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "CRM platform: events and request/reply over NATS",
            "version": VERSION,
            "description": (
                "Domain events are CloudEvents 1.0 JSON envelopes published on the subject "
                "equal to their `type` (`crm.<service>.<entity>.<verb>.v<N>`), kept in one "
                "JetStream stream per service; additive changes only within a version, so "
                "consumers ignore unknown fields; delivery is at least once and consumers "
                "de-duplicate on the event id. Request/reply endpoints follow the NATS micro "
                "protocol on `rpc.<service>.<entity>.<operation>`, outside every stream."
            ),
        },
        "defaultContentType": "application/json",
        "servers": _servers(),
        "channels": channels,
        "operations": operations,
        "components": {
            "schemas": dict(sorted(schemas.schemas.items())),
            "messages": messages,
            "securitySchemes": {
                "nkey": {
                    "type": "asymmetricEncryption",
                    "description": "NATS nkey: each party is one NATS user identified by an "
                    "Ed25519 public key and proves it by signing the server's nonce with its "
                    "seed (NATS_NKEY_SEED_FILE); the server holds public keys only.",
                }
            },
        },
    }


def _servers() -> dict[str, Any]:
    common = {
        "protocol": "nats",
        "security": [{"$ref": "#/components/securitySchemes/nkey"}],
        "x-parties": _parties(),
    }
    return {
        "production": {
            **common,
            "host": "nats.crm.svc:4222",
            "description": "The 3-node JetStream cluster of `deploy/k8s` (streams with 3 "
            "replicas). Every party connects with its own nkey and may do only what "
            "`x-parties` lists; nobody may delete or purge a stream.",
        },
        "development": {
            **common,
            "host": "127.0.0.1:4222",
            "description": "`make run`'s single server, with the same users and permissions.",
        },
    }


def _endpoint(
    endpoint: RpcEndpoint,
    schemas: _Schemas,
    channels: dict[str, Any],
    operations: dict[str, Any],
    messages: dict[str, Any],
) -> None:
    key = _id(endpoint.subject)
    service = endpoint.subject.split(".")[1]
    reply_data: dict[str, Any] = schemas.ref(endpoint.reply)
    if endpoint.nullable:
        reply_data = {"anyOf": [reply_data, {"type": "null"}]}
    schemas.ref(RpcError)
    messages[f"{key}_request"] = {
        "name": endpoint.request.__name__,
        "title": f"{endpoint.subject} request",
        "headers": {"$ref": REF.format(model="RequestHeaders")},
        "payload": schemas.ref(endpoint.request),
    }
    messages[f"{key}_reply"] = {
        "name": f"{endpoint.reply.__name__}Reply",
        "title": f"{endpoint.subject} reply",
        "payload": {"type": "object", "required": ["data"], "properties": {"data": reply_data}},
    }
    messages[f"{key}_error"] = {
        "name": "RpcError",
        "title": f"{endpoint.subject} error",
        "headers": {"$ref": REF.format(model="ErrorHeaders")},
        "payload": {
            "allOf": [
                {"$ref": REF.format(model="RpcError")},
                {
                    "type": "object",
                    "properties": {
                        "error": {
                            "type": "object",
                            "properties": {"code": {"enum": list(endpoint.errors)}},
                        }
                    },
                },
            ]
        },
    }
    callers = endpoint.callers or ("the services", "cli")
    channels[key] = {
        "address": endpoint.subject,
        "title": endpoint.subject,
        "description": f"{endpoint.summary} Roles: {endpoint.roles}; callers: "
        f"{', '.join(callers)}.",
        "messages": {"request": {"$ref": f"#/components/messages/{key}_request"}},
    }
    channels[f"{key}_reply"] = {
        "address": None,
        "description": "The requester's inbox (`_INBOX_<party>.>`), named by the request.",
        "messages": {
            "reply": {"$ref": f"#/components/messages/{key}_reply"},
            "error": {"$ref": f"#/components/messages/{key}_error"},
        },
    }
    operations[f"serve_{key}"] = {
        "action": "receive",
        "channel": {"$ref": f"#/channels/{key}"},
        "title": f"{service} answers {endpoint.subject}",
        "summary": endpoint.summary,
        "messages": [{"$ref": f"#/channels/{key}/messages/request"}],
        "reply": {
            "channel": {"$ref": f"#/channels/{key}_reply"},
            "messages": [
                {"$ref": f"#/channels/{key}_reply/messages/reply"},
                {"$ref": f"#/channels/{key}_reply/messages/error"},
            ],
        },
        "bindings": {"nats": {"queue": f"crm-{service}", "bindingVersion": "0.1.0"}},
        "x-service": service,
        "x-roles": endpoint.roles,
        "x-errors": list(endpoint.errors),
    }


def _dead_letters(
    schemas: _Schemas,
    channels: dict[str, Any],
    operations: dict[str, Any],
    messages: dict[str, Any],
) -> None:
    services = sorted({module.SERVICE for module in catalogue.MODULES})
    messages["dead_letter"] = {
        "name": "DeadLetter",
        "title": "A dead letter",
        "summary": _first_line(DeadLetter),
        "payload": schemas.ref(DeadLetter),
    }
    channels["dead_letters"] = {
        "address": "dlq.{service}.{consumer}",
        "title": "Dead letters",
        "description": f"Events a consumer gave up on, with the reason; kept in the JetStream "
        f"stream `{DEAD_LETTER_STREAM.name}`.",
        "parameters": {
            "service": {"enum": services, "description": "The consuming service."},
            "consumer": {"description": "The durable consumer's name."},
        },
        "messages": {"DeadLetter": {"$ref": "#/components/messages/dead_letter"}},
        "x-stream": DEAD_LETTER_STREAM.name,
    }
    operations["send_dead_letters"] = {
        "action": "send",
        "channel": {"$ref": "#/channels/dead_letters"},
        "title": "A consumer dead-letters an event",
        "messages": [{"$ref": "#/channels/dead_letters/messages/DeadLetter"}],
    }


def render_yaml() -> str:
    header = (
        "# Generated by `python -m crm_contracts.asyncapi docs` from libs/crm_contracts;\n"
        "# do not edit by hand.\n"
    )
    body: str = yaml.safe_dump(document(), sort_keys=False, allow_unicode=True, width=100)
    return header + body


def write_docs(directory: Path) -> list[Path]:
    from .docs_render import render_html, render_markdown

    doc = document()
    outputs = {
        directory / "asyncapi.yaml": render_yaml(),
        directory / "asyncapi.html": render_html(doc),
        directory / "events.md": render_markdown(doc),
    }
    for path, text in outputs.items():
        path.write_text(text)
    return list(outputs)


if __name__ == "__main__":
    if sys.argv[1:2] != ["docs"]:
        sys.exit("usage: python -m crm_contracts.asyncapi docs [DIRECTORY (default docs)]")
    target = Path(sys.argv[2] if len(sys.argv) > 2 else "docs")
    for written in write_docs(target):
        print(f"wrote {written}")
