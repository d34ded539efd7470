"""The route table of ``/api/v1``: every route declared once, here (see ``routing``).

Admin routes (``/admin/…``, security ``admin``) and the OpenAPI document come with later
issues; the ``/admin`` namespace is already closed to organization keys.
"""

from __future__ import annotations

from ingress.api import connections, messages
from ingress.api.models import (
    ConnectionList,
    MessageDetail,
    MessagePage,
    MessagePageParams,
    MessageParams,
    OrganizationParams,
)
from ingress.api.routing import ApiRoute

ROUTES: tuple[ApiRoute, ...] = (
    ApiRoute(
        method="GET",
        path="/organizations/{org}/connections",
        endpoint=connections.list_connections,
        params=OrganizationParams,
        response=ConnectionList,
        security="organization",
    ),
    ApiRoute(
        method="GET",
        path="/organizations/{org}/messages",
        endpoint=messages.list_messages,
        params=MessagePageParams,
        response=MessagePage,
        security="organization",
    ),
    ApiRoute(
        method="GET",
        # ``:path``: a wamid is base64 and may hold "/", which a plain segment would not match.
        path="/organizations/{org}/messages/{wamid:path}",
        endpoint=messages.get_message,
        params=MessageParams,
        response=MessageDetail,
        security="organization",
    ),
)
