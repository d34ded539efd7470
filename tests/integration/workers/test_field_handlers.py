"""Every webhook shape Meta documents ends as the state it describes.

Each payload is stored as wire bytes, split, and every event is processed with the production
handlers (``build_registry``) on the real Postgres. The rows the test expects are read from
the payload dict by the test itself, not by calling the handlers' code.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest

from runtime.bootstrap import WorkerDeps
from tests import shapes, state
from tests.builders import envelope, load_payload, sample_names, wire_bytes
from tests.integration.workers.conftest import StoreWebhook
from tests.shapes import ALL_SHAPES, Payload
from workers.handlers import build_registry
from workers.processing import process_event, split_webhook

ORG = "org-field-handlers"
OTHER_ORG = "org-other"

Row = dict[str, Any]
Key = tuple[Any, ...]


# --- delivering a webhook through the real path ---------------------------------------------


@dataclass(frozen=True, slots=True)
class Delivery:
    webhook_id: int
    event_ids: list[int]
    received_at: datetime


Deliver = Callable[[Payload | bytes], Delivery]


@pytest.fixture
def deliver(deps: WorkerDeps, db: psycopg.Connection[Any], store_webhook: StoreWebhook) -> Deliver:
    """Store a body as the ingress would, split it and process each of its events once."""
    registry = build_registry(deps)

    def run(payload: Payload | bytes) -> Delivery:
        webhook_id = store_webhook(payload)
        event_ids = split_webhook(deps, webhook_id)
        for event_id in event_ids:
            process_event(deps, registry, event_id)
        return Delivery(webhook_id, event_ids, state.webhook_received_at(db, webhook_id))

    return run


def statuses_of(db: psycopg.Connection[Any], delivery: Delivery) -> list[str]:
    return [state.event(db, event_id)["status"] for event_id in delivery.event_ids]


def value_of(payload: Payload, change: int = 0) -> Payload:
    value: Payload = payload["entry"][0]["changes"][change]["value"]
    return value


# --- what a payload means, read from the payload itself --------------------------------------


def at(seconds: int | str) -> datetime:
    return datetime.fromtimestamp(int(seconds), UTC)


@dataclass(frozen=True, slots=True)
class Loose:
    """A JSON value compared without its null members (models add the keys Meta omitted)."""

    value: Any


def without_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [without_nulls(item) for item in value]
    return value


def _plain(expected: Any) -> Any:
    return without_nulls(expected.value) if isinstance(expected, Loose) else expected


def project(actual: Row, expected: Row) -> Row:
    """``actual`` reduced to the columns ``expected`` names, compared as ``expected`` says."""
    return {
        column: without_nulls(actual.get(column))
        if isinstance(wanted, Loose)
        else actual.get(column, "<missing>")
        for column, wanted in expected.items()
    }


def plain(expected: Row) -> Row:
    return {column: _plain(wanted) for column, wanted in expected.items()}


def _sort_key(row: Row) -> str:
    return json.dumps(row, sort_keys=True, default=str)


@dataclass
class Expected:
    """The state tables' rows a payload must leave, by natural key (columns named are checked)."""

    connection: dict[Key, Row] = field(default_factory=dict)
    phone_number: dict[Key, Row] = field(default_factory=dict)
    customer: dict[Key, Row] = field(default_factory=dict)
    message: dict[Key, Row] = field(default_factory=dict)
    message_status: dict[Key, Row] = field(default_factory=dict)
    account_state: dict[Key, Row] = field(default_factory=dict)
    business_contact: dict[Key, Row] = field(default_factory=dict)
    # Keyed by a content hash the test does not compute: compared as lists.
    account_history: list[Row] = field(default_factory=list)
    history_chunk: list[Row] = field(default_factory=list)

    def organization_for(self, waba_id: str, metadata: Payload) -> str | None:
        """The number is learnt (for the WABA that first names it) and attributed through
        that WABA's connection; without one, nobody's."""
        phone = self.phone_number.setdefault(
            (metadata["phone_number_id"],),
            {
                "waba_id": waba_id,
                "display_phone_number": metadata.get("display_phone_number"),
                "status": "connected",
                "last_inbound_at": None,
            },
        )
        connection = self.connection.get((phone["waba_id"],))
        organization: str | None = connection["organization_id"] if connection else None
        return organization

    def customer_key(self, waba_id: str, **ref: str | None) -> Key | None:
        """The customer a message names: by BSUID when there is one, else by phone."""
        if ref.get("user_id"):
            key = f"bsuid:{ref['user_id']}"
        elif ref.get("wa_id"):
            key = f"wa:{ref['wa_id']}"
        else:
            return None
        row = self.customer.setdefault(
            (waba_id, key),
            dict.fromkeys(("user_id", "wa_id", "parent_user_id", "username", "name")),
        )
        for column, value in ref.items():
            if value and row[column] is None:
                row[column] = value
        return (waba_id, key)


def seed_connections(db: psycopg.Connection[Any], expected: Expected, payload: Payload) -> None:
    """A connection with ``ORG`` for every WABA the payload is about (for account updates
    the WABA in ``waba_info``; for everything else the one ``entry.id`` names)."""
    for entry in payload["entry"]:
        for change in entry["changes"]:
            waba_id, owner = entry["id"], None
            info = change["value"].get("waba_info")
            if change["field"] == "account_update" and isinstance(info, dict):
                waba_id = info.get("waba_id") or waba_id
                owner = info.get("owner_business_id")
            if (waba_id,) in expected.connection:
                continue
            state.seed_connection(db, waba_id, ORG, owner_business_id=owner)
            expected.connection[(waba_id,)] = {
                "organization_id": ORG,
                "owner_business_id": owner,
                "status": "active",
                "status_reason": None,
                "status_at": state.SEED_TIME,
                "status_source": "seed",
            }


MEDIA_TYPES = ("image", "video", "audio", "document", "sticker")


def expected_content(message: Payload) -> Row:
    """The normalised columns of one wire message."""
    kind = message["type"]
    body = message.get(kind) if isinstance(message.get(kind), dict) else {}
    assert isinstance(body, dict)
    columns: Row = dict.fromkeys(
        (
            "text", "media_id", "mime_type", "latitude", "longitude", "location_name",
            "reply_id",
        )
    )  # fmt: skip
    if kind == "text":
        columns["text"] = body["body"]
    elif kind in MEDIA_TYPES:
        columns.update(
            text=body.get("caption"), media_id=body.get("id"), mime_type=body.get("mime_type")
        )
    elif kind == "button":
        columns.update(text=body.get("text"), reply_id=body.get("payload"))
    elif kind == "interactive" and body:
        chosen = body[body["type"]]
        if body["type"] == "nfm_reply":
            columns["text"] = chosen.get("body")
        else:
            columns.update(text=chosen.get("title"), reply_id=chosen["id"])
    elif kind == "system":
        columns["text"] = body.get("body")
    elif kind == "order":
        columns["text"] = body.get("text") or None
    elif kind == "reaction":
        columns["text"] = body.get("emoji") or None  # omitted or "": the reaction was removed
    elif kind == "edit":
        new = body.get("message") or {}
        columns["text"] = (new.get("text") or {}).get("body") or next(
            (
                part["caption"]
                for part in new.values()
                if isinstance(part, dict) and "caption" in part
            ),
            None,
        )
    elif kind == "location":
        columns.update(
            latitude=body["latitude"],
            longitude=body["longitude"],
            location_name=body.get("name") or body.get("address"),
        )
    related = (
        (message.get("reaction") or {}).get("message_id")
        or (message.get("edit") or {}).get("original_message_id")
        or (message.get("revoke") or {}).get("original_message_id")
        or (message.get("context") or {}).get("id")
    )
    # A history placeholder's type stays unknown until its media follows.
    columns["type"] = None if kind == "media_placeholder" else kind
    columns["related_wamid"] = related
    return columns


def message_row(
    message: Payload,
    *,
    waba_id: str,
    metadata: Payload,
    direction: str,
    origin: str,
    organization: str | None,
    customer: Key | None,
) -> Row:
    return {
        "direction": direction,
        "origin": origin,
        "organization_id": organization,
        "waba_id": waba_id,
        "phone_number_id": metadata["phone_number_id"],
        "customer": customer,
        "sent_at": at(message["timestamp"]),
        "raw": message,
        "nul_replaced": False,
        "status": None,
        **expected_content(message),
    }


def _contact(contacts: list[Payload], *, user_id: str | None, wa_id: str | None) -> Payload:
    for contact in contacts:
        if user_id and contact.get("user_id") == user_id:
            return contact
    for contact in contacts:
        if wa_id and contact.get("wa_id") == wa_id:
            return contact
    return {}


#: The order a message's current status moves in; ``failed`` is terminal; others never count.
STATUS_RANK = {"sent": 1, "delivered": 2, "read": 3, "played": 4, "failed": 9}


def occurred(entry: Payload, received_at: datetime) -> datetime:
    return at(entry["time"]) if entry.get("time") is not None else received_at


def expect_messages(expected: Expected, entry: Payload, value: Payload, received: datetime) -> None:
    waba_id, metadata = entry["id"], value["metadata"]
    contacts = value.get("contacts", [])
    for message in value.get("messages", []):
        organization = expected.organization_for(waba_id, metadata)
        contact = _contact(contacts, user_id=message.get("from_user_id"), wa_id=message.get("from"))
        profile = contact.get("profile") or {}
        customer = expected.customer_key(
            waba_id,
            user_id=message.get("from_user_id") or contact.get("user_id"),
            wa_id=message.get("from") or contact.get("wa_id"),
            parent_user_id=message.get("from_parent_user_id") or contact.get("parent_user_id"),
            username=profile.get("username"),
            name=profile.get("name"),
        )
        expected.message[(message["id"],)] = message_row(
            message,
            waba_id=waba_id,
            metadata=metadata,
            direction="inbound",
            origin="messages",
            organization=organization,
            customer=customer,
        )
        phone = expected.phone_number.get((metadata["phone_number_id"],))
        if phone is not None:
            last = phone["last_inbound_at"]
            phone["last_inbound_at"] = max(filter(None, (last, at(message["timestamp"]))))
    for status in value.get("statuses", []):
        contact = _contact(
            contacts, user_id=status.get("recipient_user_id"), wa_id=status.get("recipient_id")
        )
        profile = contact.get("profile") or {}
        organization = expected.organization_for(waba_id, metadata)
        customer = expected.customer_key(
            waba_id,
            user_id=status.get("recipient_user_id") or contact.get("user_id"),
            wa_id=status.get("recipient_id") or contact.get("wa_id"),
            parent_user_id=status.get("recipient_parent_user_id"),
            username=profile.get("username"),
            name=profile.get("name"),
        )
        conversation = status.get("conversation")
        if conversation is not None and "expiration_timestamp" in conversation:
            conversation = {
                **conversation,
                "expiration_timestamp": int(conversation["expiration_timestamp"]),
            }
        expected.message_status[(status["id"], status["status"])] = {
            "occurred_at": at(status["timestamp"]),
            "recipient_id": status.get("recipient_id"),
            "recipient_user_id": status.get("recipient_user_id"),
            "errors": Loose(status.get("errors", [])),
            "pricing": Loose(status.get("pricing")),
            "conversation": Loose(conversation),
            "callback_data": status.get("biz_opaque_callback_data"),
            "raw": status,
        }
        # The status makes the business's message known (its content stays unknown).
        outbound = expected.message.setdefault(
            (status["id"],),
            {
                "direction": "outbound",
                "origin": "statuses",
                "organization_id": organization,
                "waba_id": waba_id,
                "phone_number_id": metadata["phone_number_id"],
                "customer": customer,
                "type": None,
                "text": None,
                "sent_at": None,
                "status": None,
                "status_at": None,
            },
        )
        current = STATUS_RANK.get(outbound["status"] or "", 0)
        if STATUS_RANK.get(status["status"], 0) > current:
            outbound.update(status=status["status"], status_at=at(status["timestamp"]))
    for error in value.get("errors", []):
        subject = f"phone_number_id:{metadata['phone_number_id']}"
        when = occurred(entry, received)
        expected.account_history.append(
            {
                "waba_id": waba_id,
                "field": "messages",
                "kind": f"error:{error['code']}",
                "subject": subject,
                "occurred_at": when,
                "details": Loose(error),
            }
        )
        expected.account_state[(waba_id, subject, f"error:{error['code']}")] = {
            "value": Loose(error),
            "as_of": when,
        }


CONNECTED = "connected"  # attached: active with an organization, orphan without
_IMPLIED_STATUS = {
    "PARTNER_ADDED": CONNECTED,
    "PARTNER_APP_INSTALLED": CONNECTED,
    "ACCOUNT_RECONNECTED": CONNECTED,
    "PARTNER_REMOVED": "disconnected",
    "PARTNER_APP_UNINSTALLED": "disconnected",
    "ACCOUNT_OFFBOARDED": "disconnected",
    "ACCOUNT_DELETED": "deleted",
}

#: The account events that are also "the latest" state of an aspect of the WABA.
ACCOUNT_ASPECTS = {
    "ACCOUNT_VIOLATION": "violation",
    "DISABLED_UPDATE": "ban",
    "ACCOUNT_RESTRICTION": "restriction",
    "PARTNER_CLIENT_CERTIFICATION_STATUS_UPDATE": "certification",
    "AUTH_INTL_PRICE_ELIGIBILITY_UPDATE": "auth_international_rate",
    "BUSINESS_PRIMARY_LOCATION_COUNTRY_UPDATE": "country",
    "VOLUME_BASED_PRICING_TIER_UPDATE": "volume_tier",
    "AD_ACCOUNT_LINKED": "ad_account",
    "MM_LITE_TERMS_SIGNED": "mm_lite_terms",
}


def implied_status(value: Payload) -> str | None:
    """What an account event says about its connection; None when it says nothing."""
    event = value["event"]
    if event == "DISABLED_UPDATE":
        ban_state = (value.get("ban_info") or {}).get("waba_ban_state")
        return {"DISABLE": "banned", "REINSTATE": CONNECTED}.get(str(ban_state))
    if event == "ACCOUNT_RESTRICTION":
        return "restricted" if value.get("restriction_info") else CONNECTED
    return _IMPLIED_STATUS.get(event)


def expect_account_update(
    expected: Expected, entry: Payload, value: Payload, received: datetime
) -> None:
    info = value.get("waba_info") or {}
    # PARTNER_* events name our own business portfolio in entry.id: the WABA is in waba_info.
    waba_id = info.get("waba_id") or entry["id"]
    when = occurred(entry, received)
    expected.account_history.append(
        {
            "waba_id": waba_id,
            "field": "account_update",
            "kind": value["event"],
            "subject": "waba",
            "occurred_at": when,
            "details": value,
        }
    )
    aspect = ACCOUNT_ASPECTS.get(value["event"])
    if aspect is not None:
        expected.account_state[(waba_id, "waba", aspect)] = {"value": value, "as_of": when}
    effect = implied_status(value)
    if effect is None:
        return
    reason = (value.get("disconnection_info") or {}).get("reason")
    current = expected.connection.get((waba_id,))
    organization = current["organization_id"] if current is not None else None
    status = effect if effect != CONNECTED else ("active" if organization else "orphan")
    expected.connection[(waba_id,)] = {
        "organization_id": organization,
        "owner_business_id": (current or {}).get("owner_business_id")
        or info.get("owner_business_id"),
        "status": status,
        "status_reason": reason,
        "status_at": when,
    }


def expect_message_echoes(
    expected: Expected, entry: Payload, value: Payload, received: datetime
) -> None:
    waba_id, metadata = entry["id"], value["metadata"]
    for echo in value.get("message_echoes", []):
        organization = expected.organization_for(waba_id, metadata)
        customer = expected.customer_key(
            waba_id, user_id=echo.get("to_user_id"), wa_id=echo.get("to")
        )
        expected.message[(echo["id"],)] = message_row(
            echo,
            waba_id=waba_id,
            metadata=metadata,
            direction="outbound",
            origin="smb_message_echoes",
            organization=organization,
            customer=customer,
        )


def expect_state_sync(
    expected: Expected, entry: Payload, value: Payload, received: datetime
) -> None:
    phone_number_id = value["metadata"]["phone_number_id"]
    for item in value.get("state_sync", []):
        contact = item["contact"]
        expected.business_contact[(phone_number_id, contact["phone_number"])] = {
            "waba_id": entry["id"],
            "full_name": contact.get("full_name"),
            "first_name": contact.get("first_name"),
            "present": item["action"] != "remove",
            "as_of": at(item["metadata"]["timestamp"]),
        }


def expect_history(expected: Expected, entry: Payload, value: Payload, received: datetime) -> None:
    waba_id, metadata = entry["id"], value["metadata"]
    business = metadata.get("display_phone_number")
    for chunk in value.get("history", []):
        threads = chunk.get("threads", [])
        chunk_meta = chunk.get("metadata") or {}
        expected.history_chunk.append(
            {
                "waba_id": waba_id,
                "phone_number_id": metadata["phone_number_id"],
                "phase": chunk_meta.get("phase"),
                "chunk_order": chunk_meta.get("chunk_order"),
                "progress": chunk_meta.get("progress"),
                "threads": len(threads),
                "messages": sum(len(thread.get("messages", [])) for thread in threads),
                "errors": Loose(chunk.get("errors", [])),
            }
        )
        for thread in threads:
            for message in thread.get("messages", []):
                organization = expected.organization_for(waba_id, metadata)
                # The thread is the chat with one user, whoever wrote each message.
                customer = expected.customer_key(waba_id, wa_id=thread["id"])
                outbound = "to" in message or message["from"] == business
                expected.message[(message["id"],)] = message_row(
                    message,
                    waba_id=waba_id,
                    metadata=metadata,
                    direction="outbound" if outbound else "inbound",
                    origin="history",
                    organization=organization,
                    customer=customer,
                )
    for message in value.get("messages", []):  # the media of earlier placeholders
        organization = expected.organization_for(waba_id, metadata)
        outbound = message["from"] == business
        customer = None if outbound else expected.customer_key(waba_id, wa_id=message["from"])
        expected.message[(message["id"],)] = message_row(
            message,
            waba_id=waba_id,
            metadata=metadata,
            direction="outbound" if outbound else "inbound",
            origin="history",
            organization=organization,
            customer=customer,
        )


@dataclass(frozen=True, slots=True)
class Report:
    """What one WABA field reports: its kind, subject and aspect."""

    kind: Callable[[Payload], str]
    subject: Callable[[Payload], str]
    aspect: Callable[[Payload], str]


def _template(value: Payload) -> str:
    return f"template:{value['message_template_id']}"


def _number(value: Payload) -> str:
    return f"phone_number:{value['display_phone_number']}"


def _fixed(text: str) -> Callable[[Payload], str]:
    return lambda value: text


REPORTS: dict[str, Report] = {
    "message_template_status_update": Report(lambda v: v["event"], _template, _fixed("status")),
    "message_template_quality_update": Report(
        lambda v: v["new_quality_score"], _template, _fixed("quality")
    ),
    "message_template_components_update": Report(
        _fixed("components"), _template, _fixed("components")
    ),
    "template_category_update": Report(lambda v: v["new_category"], _template, _fixed("category")),
    "phone_number_quality_update": Report(lambda v: v["event"], _number, _fixed("quality")),
    "phone_number_name_update": Report(lambda v: v["decision"], _number, _fixed("name")),
    "account_review_update": Report(lambda v: v["decision"], _fixed("waba"), _fixed("review")),
    "account_alerts": Report(
        lambda v: v["alert_info"]["alert_type"],
        lambda v: f"entity:{v['entity_type']}:{v['entity_id']}",
        lambda v: f"alert:{v['alert_info']['alert_type']}",
    ),
    "business_capability_update": Report(
        _fixed("capability"), _fixed("waba"), _fixed("capability")
    ),
    "security": Report(lambda v: v["event"], _number, _fixed("security")),
    "partner_solutions": Report(
        lambda v: v["event"], lambda v: f"solution:{v['solution_id']}", _fixed("solution")
    ),
    "business_username_update": Report(lambda v: v["status"], _number, _fixed("username")),
}


def expect_report(expected: Expected, entry: Payload, field_name: str, value: Payload) -> None:
    report = REPORTS[field_name]
    when = at(entry["time"])
    subject = report.subject(value)
    expected.account_history.append(
        {
            "waba_id": entry["id"],
            "field": field_name,
            "kind": report.kind(value),
            "subject": subject,
            "occurred_at": when,
            "details": value,
        }
    )
    expected.account_state[(entry["id"], subject, report.aspect(value))] = {
        "value": value,
        "as_of": when,
    }


def expect_user_preferences(
    expected: Expected, entry: Payload, value: Payload, received: datetime
) -> None:
    for preference in value["user_preferences"]:
        subject = f"customer:{preference.get('user_id') or preference['wa_id']}"
        when = at(preference["timestamp"])
        expected.account_history.append(
            {
                "waba_id": entry["id"],
                "field": "user_preferences",
                "kind": preference["value"],
                "subject": subject,
                "occurred_at": when,
                "details": preference,
            }
        )
        expected.account_state[(entry["id"], subject, f"preference:{preference['category']}")] = {
            "value": preference,
            "as_of": when,
        }


EXPECTATIONS: dict[str, Callable[[Expected, Payload, Payload, datetime], None]] = {
    "messages": expect_messages,
    "account_update": expect_account_update,
    "smb_message_echoes": expect_message_echoes,
    "smb_app_state_sync": expect_state_sync,
    "history": expect_history,
    "user_preferences": expect_user_preferences,
}


def expect_payload(expected: Expected, payload: Payload, received: datetime) -> None:
    for entry in payload["entry"]:
        for change in entry["changes"]:
            name, value = change["field"], change["value"]
            if name in EXPECTATIONS:
                EXPECTATIONS[name](expected, entry, value, received)
            else:
                expect_report(expected, entry, name, value)


def assert_state(db: psycopg.Connection[Any], expected: Expected) -> None:
    """Every state table holds exactly the expected rows (in the columns each names)."""
    snapshot = state.state_snapshot(db)
    keyed = (
        "connection", "phone_number", "customer", "message", "message_status",
        "account_state", "business_contact",
    )  # fmt: skip
    for name in keyed:
        wanted: dict[Key, Row] = getattr(expected, name)
        actual = {key: project(row, wanted.get(key, row)) for key, row in snapshot[name].items()}
        assert actual == {key: plain(row) for key, row in wanted.items()}, name
    for name in ("account_history", "history_chunk"):
        listed: list[Row] = getattr(expected, name)
        columns = listed[0] if listed else {}
        actual_rows = sorted(
            (project(row, columns) if columns else row for row in snapshot[name].values()),
            key=_sort_key,
        )
        assert actual_rows == sorted((plain(row) for row in listed), key=_sort_key), name


# --- the cases: every builder, every captured sample, and a few variants --------------------


def _ban(state_name: str) -> Payload:
    payload = shapes.account_update_disabled()
    value_of(payload)["ban_info"]["waba_ban_state"] = state_name
    return payload


def _restriction_lifted() -> Payload:
    payload = shapes.account_update_restriction()
    value_of(payload)["restriction_info"] = []
    return payload


def _statuses_out_of_order() -> Payload:
    """read, then delivered, then sent for one message, in one value."""
    payload = shapes.status_read()
    statuses = value_of(payload)["statuses"]
    read = statuses[0]
    for name, earlier in (("delivered", 5), ("sent", 10)):
        statuses.append(
            {**read, "status": name, "timestamp": str(int(read["timestamp"]) - earlier)}
        )
    return payload


def _read_after_failed() -> Payload:
    payload = shapes.status_failed()
    statuses = value_of(payload)["statuses"]
    statuses.append(
        {**statuses[0], "status": "read", "timestamp": str(int(statuses[0]["timestamp"]) + 1)}
    )
    del statuses[1]["errors"]
    return payload


def _sample(name: str) -> Callable[[], Payload]:
    return lambda: load_payload(name)


CASES: dict[str, Callable[[], Payload]] = {
    **{f"shape:{name}": builder for name, builder in ALL_SHAPES.items()},
    **{f"sample:{name}": _sample(name) for name in sample_names()},
    "variant:account_update_disabled_disable": lambda: _ban("DISABLE"),
    "variant:account_update_disabled_reinstate": lambda: _ban("REINSTATE"),
    "variant:account_update_restriction_lifted": _restriction_lifted,
    "variant:statuses_out_of_order": _statuses_out_of_order,
    "variant:status_read_after_failed": _read_after_failed,
}


@pytest.mark.parametrize("attached", [True, False], ids=["connected", "no_connection"])
@pytest.mark.parametrize("case", list(CASES))
def test_each_webhook_shape_is_processed_into_the_state_it_describes(
    case: str, attached: bool, deliver: Deliver, db: psycopg.Connection[Any]
):
    payload = CASES[case]()
    expected = Expected()
    if attached:
        seed_connections(db, expected, payload)

    delivery = deliver(payload)

    assert statuses_of(db, delivery) == ["processed"] * len(delivery.event_ids)
    assert delivery.event_ids
    assert state.dead_letters(db) == []
    expect_payload(expected, payload, delivery.received_at)
    assert_state(db, expected)


# --- the same change again changes nothing --------------------------------------------------

REPLAYED = (
    "message_text", "message_image", "message_location", "message_interactive_list_reply",
    "message_reaction_removed", "message_from_username_user", "message_system_user_changed_number",
    "value_errors_rate_limit", "status_sent", "status_failed", "status_unknown",
    "account_update_partner_added", "account_update_partner_removed_disconnected",
    "account_update_restriction", "account_update_unknown_event",
    "smb_message_echo_text", "smb_message_echo_edit", "smb_app_state_sync_add",
    "smb_app_state_sync_remove", "history_chunk", "history_media", "history_declined",
    "message_template_status_update", "account_alerts", "user_preferences",
    "phone_number_quality_update", "partner_solutions",
)  # fmt: skip


@pytest.mark.parametrize("attached", [True, False], ids=["connected", "no_connection"])
@pytest.mark.parametrize("name", REPLAYED)
def test_the_same_change_delivered_again_in_another_webhook_changes_no_state(
    name: str, attached: bool, deliver: Deliver, db: psycopg.Connection[Any]
):
    payload = ALL_SHAPES[name]()
    if attached:
        seed_connections(db, Expected(), payload)
    first = deliver(payload)
    before = state.state_snapshot(db)
    # Meta redelivers the change inside another body: a new webhook, new events.
    again = copy.deepcopy(payload)
    again["redelivery"] = 2

    second = deliver(again)

    assert second.webhook_id != first.webhook_id
    assert set(second.event_ids).isdisjoint(first.event_ids)
    assert statuses_of(db, second) == ["processed"] * len(second.event_ids)
    assert state.state_snapshot(db) == before


def test_a_batched_sample_delivered_again_changes_no_state(
    deliver: Deliver, db: psycopg.Connection[Any]
):
    payload = load_payload("batched_multiple_changes_one_entry")
    seed_connections(db, Expected(), payload)
    deliver(payload)
    before = state.state_snapshot(db)
    payload["redelivery"] = 2

    assert statuses_of(db, deliver(payload)) == ["processed", "processed"]
    assert state.state_snapshot(db) == before


# --- behaviour across webhooks ---------------------------------------------------------------


def at_time(ids: shapes.Ids, seconds: int) -> shapes.Ids:
    """``ids`` with Meta's timestamp ``seconds`` after the shapes' base time."""
    pinned = ids.copy()
    pinned["timestamp"] = shapes.BASE_TIMESTAMP + seconds
    return pinned


def test_statuses_in_separate_webhooks_out_of_order_leave_the_furthest_current(
    deliver: Deliver, db: psycopg.Connection[Any]
):
    ids: shapes.Ids = {
        "waba_id": "3109800000004",
        "wamid": "wamid.OUT-OF-ORDER",
        "user_id": "US.1",
        "wa_id": "16505550101",
        "phone_number_id": "4182750000001",
    }
    for build, seconds in (
        (shapes.status_read, 30),
        (shapes.status_sent, 10),
        (shapes.status_delivered, 20),
    ):
        deliver(build(**at_time(ids, seconds)))

    row = state.message(db, "wamid.OUT-OF-ORDER")
    assert row is not None
    assert (row["status"], row["status_at"]) == ("read", at(shapes.BASE_TIMESTAMP + 30))
    assert sorted(key[1] for key in state.table(db, "message_status")) == [
        "delivered",
        "read",
        "sent",
    ]
    assert len(state.table(db, "customer")) == 1


def test_a_failed_status_is_terminal_whatever_arrives_after_it(
    deliver: Deliver, db: psycopg.Connection[Any]
):
    ids: shapes.Ids = {"wamid": "wamid.FAILED"}
    deliver(shapes.status_failed(**at_time(ids, 10)))
    deliver(shapes.status_read(**at_time(ids, 20)))

    row = state.message(db, "wamid.FAILED")
    assert row is not None
    assert row["status"] == "failed"


def test_a_history_media_follow_up_fills_its_placeholder(
    deliver: Deliver, db: psycopg.Connection[Any]
):
    ids: shapes.Ids = {
        "wamid": "wamid.PLACEHOLDER",
        "waba_id": "3109800000001",
        "phone_number_id": "4182750000002",
    }
    chunk = shapes.history_chunk(**ids)
    thread_user = value_of(chunk)["history"][0]["threads"][0]["id"]
    deliver(chunk)
    placeholder = state.message(db, "wamid.PLACEHOLDER")
    assert placeholder is not None
    assert (placeholder["type"], placeholder["media_id"]) == (None, None)

    media = shapes.history_media(**ids)
    deliver(media)

    image = value_of(media)["messages"][0]["image"]
    filled = state.message(db, "wamid.PLACEHOLDER")
    assert filled is not None
    assert (filled["type"], filled["media_id"], filled["mime_type"]) == (
        "image",
        image["id"],
        image["mime_type"],
    )
    assert filled["direction"] == "outbound"
    assert filled["origin"] == "history"
    assert filled["customer"] == (ids["waba_id"], f"wa:{thread_user}")
    assert len(state.table(db, "message")) == 3


def test_an_echo_after_a_status_of_the_same_message_gives_it_content_and_origin(
    deliver: Deliver, db: psycopg.Connection[Any]
):
    ids: shapes.Ids = {
        "wamid": "wamid.ECHOED",
        "waba_id": "3109800000002",
        "phone_number_id": "4182750000003",
        "wa_id": "16505550102",
    }
    deliver(shapes.status_sent(**ids))
    echo = shapes.smb_message_echo_text(**ids)
    deliver(echo)

    row = state.message(db, "wamid.ECHOED")
    assert row is not None
    assert (row["origin"], row["direction"], row["type"], row["status"]) == (
        "smb_message_echoes",
        "outbound",
        "text",
        "sent",
    )
    assert row["text"] == value_of(echo)["message_echoes"][0]["text"]["body"]


def test_a_username_user_who_later_shows_a_phone_stays_one_customer_with_both(
    deliver: Deliver, db: psycopg.Connection[Any]
):
    ids: shapes.Ids = {
        "user_id": "US.USERNAME1",
        "wa_id": "16505550177",
        "waba_id": "3109800000003",
        "phone_number_id": "4182750000004",
    }
    deliver(shapes.message_from_username_user(**at_time(ids, 0)))
    (first,) = state.table(db, "customer").values()
    assert (first["wa_id"], first["username"]) == (None, "@marcusreed")

    deliver(shapes.message_text(**at_time(ids, 60)))

    (customer,) = state.table(db, "customer").values()
    assert customer["customer_key"] == "bsuid:US.USERNAME1"
    assert customer["wa_id"] == "16505550177"
    assert customer["name"] == "Marcus Reed"  # the later profile wins


# --- account updates: attribution and routing ------------------------------------------------


def test_a_partner_added_joins_the_organization_of_an_attached_connection_of_its_business(
    deliver: Deliver, db: psycopg.Connection[Any]
):
    state.seed_connection(db, "3109800000010", OTHER_ORG, owner_business_id="5729100000001")
    payload = shapes.account_update_partner_added(
        waba_id="3109800000011", business_id="5729100000001"
    )

    deliver(payload)

    row = state.connection(db, "3109800000011")
    assert row is not None
    assert (row["status"], row["organization_id"], row["owner_business_id"]) == (
        "active",
        OTHER_ORG,
        "5729100000001",
    )


def test_a_partner_added_of_a_business_nobody_attached_leaves_an_orphan(
    deliver: Deliver, db: psycopg.Connection[Any]
):
    # Another business's connection, and an orphan of the same business, resolve nothing.
    state.seed_connection(db, "3109800000020", OTHER_ORG, owner_business_id="5729100000002")
    state.seed_connection(db, "3109800000021", None, owner_business_id="5729100000003")

    deliver(
        shapes.account_update_partner_added(waba_id="3109800000022", business_id="5729100000003")
    )

    row = state.connection(db, "3109800000022")
    assert row is not None
    assert (row["status"], row["organization_id"]) == ("orphan", None)


def test_a_partner_added_for_a_waba_an_onboarding_session_reported_gets_its_organization(
    deliver: Deliver, db: psycopg.Connection[Any]
):
    state.seed_onboarding(db, "track-0001", OTHER_ORG, "3109800000030")

    deliver(shapes.account_update_partner_added(waba_id="3109800000030"))

    row = state.connection(db, "3109800000030")
    assert row is not None
    assert (row["status"], row["organization_id"]) == ("active", OTHER_ORG)


@pytest.mark.parametrize(
    ("case", "status"),
    [
        ("shape:account_update_partner_added", "active"),
        ("shape:account_update_partner_app_installed", "active"),
        ("shape:account_update_reconnected", "active"),
        ("shape:account_update_partner_removed", "disconnected"),
        ("shape:account_update_partner_app_uninstalled", "disconnected"),
        ("shape:account_update_offboarded", "disconnected"),
        ("shape:account_update_deleted", "deleted"),
        ("variant:account_update_disabled_disable", "banned"),
        ("shape:account_update_disabled", "active"),  # only scheduled: not banned yet
        ("shape:account_update_restriction", "restricted"),
        ("shape:account_update_account_violation", "active"),
        ("shape:account_update_unknown_event", "active"),
    ],
)
def test_an_account_event_leaves_an_attached_connection_in_the_status_it_implies(
    case: str, status: str, deliver: Deliver, db: psycopg.Connection[Any]
):
    payload = CASES[case]()
    seed_connections(db, Expected(), payload)

    deliver(payload)

    (row,) = state.table(db, "connection").values()
    assert (row["status"], row["organization_id"]) == (status, ORG)


def test_customers_are_keyed_by_business_scoped_id_else_by_phone(
    deliver: Deliver, db: psycopg.Connection[Any]
):
    ids: shapes.Ids = {"waba_id": "3109800000080", "user_id": "US.KEY1", "wa_id": "16505550180"}
    deliver(shapes.message_text(**ids))
    phone_only = shapes.message_text(waba_id="3109800000080", wa_id="16505550181")
    del value_of(phone_only)["messages"][0]["from_user_id"]
    del value_of(phone_only)["contacts"][0]["user_id"]
    deliver(phone_only)
    deliver(shapes.message_from_username_user(waba_id="3109800000080", user_id="US.KEY2"))

    customers = {key[1]: row for key, row in state.table(db, "customer").items()}
    assert set(customers) == {"bsuid:US.KEY1", "wa:16505550181", "bsuid:US.KEY2"}
    assert customers["bsuid:US.KEY1"]["wa_id"] == "16505550180"
    assert (customers["wa:16505550181"]["user_id"], customers["wa:16505550181"]["wa_id"]) == (
        None,
        "16505550181",
    )
    username_only = customers["bsuid:US.KEY2"]
    assert (username_only["wa_id"], username_only["username"]) == (None, "@marcusreed")


@pytest.mark.parametrize("partner_first", [True, False], ids=["sharing_first", "traffic_first"])
def test_a_wabas_traffic_is_attributed_whether_its_sharing_arrives_before_or_after_it(
    partner_first: bool, deliver: Deliver, db: psycopg.Connection[Any]
):
    ids: shapes.Ids = {"waba_id": "3109800000070", "phone_number_id": "4182750000070"}
    state.seed_onboarding(db, "track-0070", OTHER_ORG, ids["waba_id"])
    sharing = shapes.account_update_partner_added(**ids)
    traffic = [shapes.message_text(**ids), shapes.status_sent(**ids)]

    for payload in [sharing, *traffic] if partner_first else [*traffic, sharing]:
        deliver(payload)

    messages = state.table(db, "message").values()
    assert [row["organization_id"] for row in messages] == [OTHER_ORG, OTHER_ORG]
    connection = state.connection(db, ids["waba_id"])
    assert connection is not None
    assert (connection["status"], connection["organization_id"]) == ("active", OTHER_ORG)


@pytest.mark.parametrize(
    ("build", "status"),
    [
        (shapes.account_update_partner_added, "orphan"),
        (shapes.account_update_partner_removed, "disconnected"),
        (shapes.account_update_partner_app_uninstalled, "disconnected"),
    ],
)
def test_partner_events_are_routed_by_waba_info_never_by_entry_id(
    build: Callable[..., Payload], status: str, deliver: Deliver, db: psycopg.Connection[Any]
):
    partner, waba = "1847360000001", "3109800000040"
    # A connection whose WABA id happens to equal our portfolio id must not be touched.
    state.seed_connection(db, partner, ORG)
    payload = build(waba_id=waba, partner_business_id=partner)
    assert payload["entry"][0]["id"] == partner

    deliver(payload)

    untouched = state.connection(db, partner)
    assert untouched is not None
    assert (untouched["status"], untouched["status_source"]) == ("active", "seed")
    routed = state.connection(db, waba)
    assert routed is not None
    assert (routed["status"], routed["organization_id"]) == (status, None)
    assert [row["waba_id"] for row in state.table(db, "account_history").values()] == [waba]


def test_an_older_account_event_arriving_late_changes_no_status(
    deliver: Deliver, db: psycopg.Connection[Any]
):
    waba = "3109800000050"
    state.seed_connection(db, waba, ORG)
    deliver(shapes.account_update_partner_removed(waba_id=waba, timestamp=shapes.BASE_TIMESTAMP))
    deliver(shapes.account_update_reconnected(waba_id=waba, timestamp=shapes.BASE_TIMESTAMP - 60))

    row = state.connection(db, waba)
    assert row is not None
    assert (row["status"], row["status_at"]) == ("disconnected", at(shapes.BASE_TIMESTAMP))
    assert len(state.table(db, "account_history")) == 2  # the late one is still history


# --- bad input --------------------------------------------------------------------------------


def _broken(build: Callable[[], Payload], edit: Callable[[Payload], None]) -> Callable[[], Payload]:
    def make() -> Payload:
        payload = build()
        edit(value_of(payload))
        return payload

    return make


INVALID: dict[str, Callable[[], Payload]] = {
    "message_without_id": _broken(shapes.message_text, lambda v: v["messages"][0].pop("id")),
    "message_timestamp_yesterday": _broken(
        shapes.message_text, lambda v: v["messages"][0].update(timestamp="yesterday")
    ),
    "messages_without_metadata": _broken(shapes.message_text, lambda v: v.pop("metadata")),
    "text_without_body": _broken(shapes.message_text, lambda v: v["messages"][0]["text"].clear()),
    "status_without_status": _broken(shapes.status_sent, lambda v: v["statuses"][0].pop("status")),
    "account_update_without_event": _broken(
        shapes.account_update_partner_added, lambda v: v.pop("event")
    ),
    "waba_info_without_waba_id": _broken(
        shapes.account_update_partner_added, lambda v: v["waba_info"].pop("waba_id")
    ),
    "echo_without_timestamp": _broken(
        shapes.smb_message_echo_text, lambda v: v["message_echoes"][0].pop("timestamp")
    ),
    "state_sync_contact_without_phone": _broken(
        shapes.smb_app_state_sync_add, lambda v: v["state_sync"][0]["contact"].pop("phone_number")
    ),
    "history_thread_without_id": _broken(
        shapes.history_chunk, lambda v: v["history"][0]["threads"][0].pop("id")
    ),
    "template_status_without_event": _broken(
        shapes.message_template_status_update, lambda v: v.pop("event")
    ),
    "review_decision_not_text": _broken(
        shapes.account_review_update, lambda v: v.update(decision={"x": 1})
    ),
}


@pytest.mark.parametrize("case", list(INVALID))
def test_a_known_field_whose_value_breaks_its_schema_is_dead_lettered_at_the_first_attempt(
    case: str, deliver: Deliver, db: psycopg.Connection[Any]
):
    payload = INVALID[case]()
    seed_connections(db, Expected(), payload)
    before = state.state_snapshot(db)

    delivery = deliver(payload)

    (event_id,) = delivery.event_ids
    event = state.event(db, event_id)
    assert (event["status"], event["attempts"]) == ("dead", 1)
    assert state.dead_letters(db) == [
        {
            "webhook_id": delivery.webhook_id,
            "event_id": event_id,
            "field": payload["entry"][0]["changes"][0]["field"],
            "reason": "invalid_change",
            "attempts": 1,
        }
    ]
    assert state.state_snapshot(db) == before  # nothing half-applied


def test_an_invalid_change_does_not_hold_back_the_valid_one_beside_it(
    deliver: Deliver, db: psycopg.Connection[Any]
):
    good = shapes.message_text(waba_id="3109800000060")
    bad = INVALID["message_without_id"]()
    good["entry"][0]["changes"].append(bad["entry"][0]["changes"][0])

    delivery = deliver(good)

    assert statuses_of(db, delivery) == ["processed", "dead"]
    assert list(state.table(db, "message")) == [(value_of(good)["messages"][0]["id"],)]


def test_an_unknown_field_is_ignored_and_changes_no_state(
    deliver: Deliver, db: psycopg.Connection[Any]
):
    before = state.state_snapshot(db)

    delivery = deliver(envelope(("holographic_calls", {"frames": [1, 2, 3]})))

    assert statuses_of(db, delivery) == ["ignored"]
    assert state.dead_letters(db) == []
    assert state.state_snapshot(db) == before


def _with_message_time(seconds: str) -> Payload:
    payload = shapes.message_text()
    value_of(payload)["messages"][0]["timestamp"] = seconds
    return payload


def _with_entry_time(seconds: int) -> Payload:
    payload = shapes.account_review_update()
    payload["entry"][0]["time"] = seconds
    return payload


@pytest.mark.parametrize(
    "build",
    [
        lambda: _with_message_time("253402300800"),
        lambda: _with_message_time("99999999999999999999"),
    ],
    ids=["message_year_10000", "message_past_time_t"],
)
def test_a_time_no_calendar_holds_is_an_invalid_change_at_the_first_attempt(
    build: Callable[[], Payload], deliver: Deliver, db: psycopg.Connection[Any]
):
    delivery = deliver(build())

    (event_id,) = delivery.event_ids
    assert state.event(db, event_id)["status"] == "dead"
    assert [row["reason"] for row in state.dead_letters(db)] == ["invalid_change"]


@pytest.mark.parametrize("seconds", [253402300800, 2**70])
def test_an_envelope_time_no_calendar_holds_makes_the_webhook_unparseable(
    seconds: int, deliver: Deliver, db: psycopg.Connection[Any]
):
    delivery = deliver(_with_entry_time(seconds))

    assert delivery.event_ids == []
    assert [row["reason"] for row in state.dead_letters(db)] == ["unparseable"]


def test_a_body_with_nan_is_dead_lettered_as_unparseable_at_once(
    deliver: Deliver, db: psycopg.Connection[Any]
):
    payload = shapes.message_location()
    value_of(payload)["messages"][0]["location"]["latitude"] = 12345.5
    body = wire_bytes(payload).replace(b"12345.5", b"NaN")

    delivery = deliver(body)

    assert delivery.event_ids == []
    assert [row["reason"] for row in state.dead_letters(db)] == ["unparseable"]


# --- U+0000 -----------------------------------------------------------------------------------


def test_a_text_holding_an_escaped_nul_is_processed_with_a_replacement_character(
    deliver: Deliver, db: psycopg.Connection[Any]
):
    payload = shapes.message_text(body="before<NUL>after")
    body = wire_bytes(payload).replace(b"<NUL>", b"\\u0000")
    assert b'"before\\u0000after"' in body

    delivery = deliver(body)

    (event_id,) = delivery.event_ids
    event = state.event(db, event_id)
    assert (event["status"], event["nul_replaced"]) == ("processed", True)
    row = state.message(db, value_of(payload)["messages"][0]["id"])
    assert row is not None
    assert row["text"] == "before\ufffdafter"
    assert row["nul_replaced"] is True
    assert row["raw"]["text"]["body"] == "before\ufffdafter"
    assert state.webhook_body(db, delivery.webhook_id) == body


def test_a_nul_in_a_profile_name_and_in_a_report_is_replaced_where_it_is_stored(
    deliver: Deliver, db: psycopg.Connection[Any]
):
    message = shapes.message_text()
    value_of(message)["contacts"][0]["profile"]["name"] = "Mar\x00cus"
    report = shapes.phone_number_name_update()
    value_of(report)["requested_verified_name"] = "Acme\x00"
    bodies = [wire_bytes(message), wire_bytes(report)]
    assert all(b"\\u0000" in body for body in bodies)

    deliveries = [deliver(body) for body in bodies]

    for delivery, body in zip(deliveries, bodies, strict=True):
        (event_id,) = delivery.event_ids
        assert state.event(db, event_id)["nul_replaced"] is True
        assert state.event(db, event_id)["status"] == "processed"
        assert state.webhook_body(db, delivery.webhook_id) == body
    (customer,) = state.table(db, "customer").values()
    assert customer["name"] == "Mar\ufffdcus"
    (history,) = state.table(db, "account_history").values()
    assert history["details"]["requested_verified_name"] == "Acme\ufffd"
