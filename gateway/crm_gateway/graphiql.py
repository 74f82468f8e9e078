"""GraphiQL page served when a browser opens /graphql.

GraphiQL is bundled from npm by the web build (`web/graphiql.html`, assets under
`/assets/`), so nothing loads from the internet; it sends the token of the user signed in
to the app. Without a web build the page says how to make one.
"""

from __future__ import annotations

from crm_gateway.web import default_dist


def graphiql_html() -> str:
    built = default_dist() / "graphiql.html"
    if built.is_file():
        return built.read_text()
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'><title>CRM GraphQL</title>"
        "</head><body><h1>CRM GraphQL</h1><p>GraphiQL is part of the web build: run "
        "<code>make web</code> (or <code>make run</code>) and reload. The API answers POST "
        "requests here meanwhile.</p></body></html>"
    )


GRAPHIQL_HTML = graphiql_html()
