"""The lean subgraph transport against a real local socket, and the acceptance plan shape."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from crm_gateway.lean_transport import LeanTransport
from crm_gateway.plan import FlattenNode, ParallelNode, SequenceNode
from crm_gateway.planner import Planner
from crm_gateway.supergraph import Supergraph

from .conftest import REPO, compose

RESPONSES = [
    b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{"data":{}}',
    b'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{"dat\r\n6\r\na":{}}\r\n0\r\n\r\n',
    b"HTTP/1.1 200 OK\r\nContent-Length: 11\r\nConnection: close\r\n\r\n" + b'{"data":{}}',
]


async def test_lean_transport_reuses_connections_and_reads_all_framings() -> None:
    connections = 0
    served = 0

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections, served
        connections += 1
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = next(
                int(line.split(b":")[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length")
            )
            await reader.readexactly(length)
            writer.write(RESPONSES[served % len(RESPONSES)])
            served += 1
            await writer.drain()
            if served % len(RESPONSES) == 0:
                writer.close()
                return

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with httpx.AsyncClient(transport=LeanTransport()) as client:
        for _ in range(4):
            r = await client.post(f"http://127.0.0.1:{port}/graphql", content=b'{"query":"{a}"}')
            assert r.status_code == 200 and r.json() == {"data": {}}
    server.close()
    await server.wait_closed()
    # Three answers on the first connection (keep-alive, chunked, then "close"), then a new one.
    assert served == 4 and connections == 2


async def test_lean_transport_reports_connection_refused() -> None:
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()
    async with httpx.AsyncClient(transport=LeanTransport()) as client:
        with pytest.raises(httpx.ConnectError):
            await client.post(f"http://127.0.0.1:{port}/graphql", content=b"{}")


ACCEPTANCE_QUERY = """
query Board($pipelineId: ID) {
  pipelineBoard(pipelineId: $pipelineId) {
    columns {
      deals {
        edges {
          node {
            company { name }
            primaryContact {
              firstName lastName
              interactions(first: 3) { edges { node { kind subject } } }
            }
            tasks(status: OPEN) { title dueAt assigneeId }
          }
        }
      }
    }
  }
}
"""


def test_unified_pipeline_view_plan_is_one_fetch_per_subgraph_per_level() -> None:
    """The acceptance query, over subgraphs with the platform's API names."""
    sdl_dir = REPO / "bench" / "gateway" / "fake_sdl"
    sdl = compose(
        {
            n: (f"http://{n}.test/graphql", sdl_dir / f"{n}.graphql")
            for n in ("contacts", "deals", "tasks")
        }
    )
    committed = REPO / "gateway" / "supergraph.graphql"
    candidates = [sdl]
    if committed.exists() and "pipelineBoard" in committed.read_text():
        candidates.append(committed.read_text())
    from graphql import parse

    doc = parse(ACCEPTANCE_QUERY)
    for supergraph in candidates:
        plan = Planner(Supergraph.from_sdl(supergraph)).plan(doc, doc.definitions[0])
        assert isinstance(plan.node, SequenceNode)
        levels = plan.node.nodes
        assert len(levels) == 2  # deals, then contacts and tasks side by side
        for level in levels:
            fetches = level.nodes if isinstance(level, ParallelNode) else [level]
            names = [(f.node if isinstance(f, FlattenNode) else f).service_name for f in fetches]
            assert len(names) == len(set(names)), names
