"""A Python Apollo Federation v2 gateway: supergraph in, one GraphQL endpoint out."""

from crm_gateway.app import create_app
from crm_gateway.config import GatewaySettings
from crm_gateway.gateway import Gateway, GatewayRequest, GatewayResponse

__all__ = ["Gateway", "GatewayRequest", "GatewayResponse", "GatewaySettings", "create_app"]
