"""`python -m crm_gateway`: serve the gateway on GATEWAY_HOST:GATEWAY_PORT (127.0.0.1:4000)."""

from __future__ import annotations

import uvicorn

from crm_gateway.app import create_app
from crm_gateway.config import GatewaySettings
from crm_gateway.gc_tuning import tune_for_serving
from crm_gateway.logs import configure_logging
from crm_kit.metrics import serve_metrics
from crm_kit.serve import StoppingServer
from crm_kit.telemetry import configure_tracing


def main() -> None:
    settings = GatewaySettings.from_env()
    configure_logging(settings.log_level)
    # Before the app is built: its subgraph clients and its routes are then traced.
    configure_tracing("gateway")
    serve_metrics("gateway")
    app = create_app(settings)
    tune_for_serving()  # after the schema and supergraph are built: see gc_tuning
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_config=None,  # keep our JSON handler
        access_log=False,
        lifespan="on",
        # The client address (rate limits, bad-token back-off) comes from X-Forwarded-For
        # only when the peer is a configured proxy; otherwise it is the peer itself.
        proxy_headers=bool(settings.trusted_proxies),
        forwarded_allow_ips=list(settings.trusted_proxies) or None,
        # Subscriptions are told to go elsewhere at once (StoppingServer); this bounds the
        # rest of a shutdown.
        timeout_graceful_shutdown=10,
    )
    StoppingServer(config, app.state.live.registry.stop_all).run()


if __name__ == "__main__":
    main()
