"""The route table of ``/api/v1``: every route declared once, here (see ``routing``).

Admin routes live under ``/admin/…`` with security ``admin`` (403 for organization keys).
Routes whose resource names its organization only in the body or in the stored row
(onboardings, a WABA's phone selection) declare ``organization`` and check the key against
that organization themselves, answering 404 for another organization's.
"""

from __future__ import annotations

from ingress.api import admin, connections, messages, onboardings
from ingress.api.models import (
    Connection,
    ConnectionList,
    DeadLetterDetail,
    DeadLetterList,
    DeadLetterListParams,
    DeadLetterParams,
    MessageDetail,
    MessagePage,
    MessagePageParams,
    MessageParams,
    NewOnboarding,
    Onboarding,
    OnboardingCreated,
    OrganizationParams,
    OrphanClaim,
    OrphanList,
    PhoneChoice,
    ReplayAnswer,
    SessionAccepted,
    SessionBody,
    TrackingCodeParams,
    WabaParams,
)
from ingress.api.routing import ApiRoute

ROUTES: tuple[ApiRoute, ...] = (
    ApiRoute(
        method="POST",
        path="/onboardings",
        endpoint=onboardings.create_onboarding,
        body=NewOnboarding,
        response=OnboardingCreated,
        security="organization",
        status=201,
    ),
    ApiRoute(
        method="GET",
        path="/onboardings/{tracking_code}",
        endpoint=onboardings.get_onboarding,
        params=TrackingCodeParams,
        response=Onboarding,
        security="organization",
    ),
    ApiRoute(
        method="POST",
        path="/onboardings/{tracking_code}/session",
        endpoint=onboardings.post_session,
        params=TrackingCodeParams,
        body=SessionBody,
        response=SessionAccepted,
        security="organization",
        status=202,
    ),
    ApiRoute(
        method="GET",
        path="/organizations/{org}/connections",
        endpoint=connections.list_connections,
        params=OrganizationParams,
        response=ConnectionList,
        security="organization",
    ),
    ApiRoute(
        method="POST",
        path="/connections/{waba_id}/phone",
        endpoint=connections.select_phone,
        params=WabaParams,
        body=PhoneChoice,
        response=Connection,
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
    ApiRoute(
        method="GET",
        path="/admin/orphans",
        endpoint=admin.list_orphans,
        response=OrphanList,
        security="admin",
    ),
    ApiRoute(
        method="POST",
        path="/admin/orphans/{waba_id}/claim",
        endpoint=admin.claim_orphan,
        params=WabaParams,
        body=OrphanClaim,
        response=Connection,
        security="admin",
    ),
    ApiRoute(
        method="GET",
        path="/admin/dead-letters",
        endpoint=admin.list_dead_letters,
        params=DeadLetterListParams,
        response=DeadLetterList,
        security="admin",
    ),
    ApiRoute(
        method="GET",
        path="/admin/dead-letters/{dead_letter_id}",
        endpoint=admin.show_dead_letter,
        params=DeadLetterParams,
        response=DeadLetterDetail,
        security="admin",
    ),
    ApiRoute(
        method="POST",
        path="/admin/dead-letters/{dead_letter_id}/replay",
        endpoint=admin.replay_dead_letter,
        params=DeadLetterParams,
        response=ReplayAnswer,
        security="admin",
        status=202,
    ),
)
