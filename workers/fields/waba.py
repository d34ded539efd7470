"""The other WABA fields: templates, number quality and name, reviews, alerts, capability,
security, user preferences, partner solutions, usernames.

Each report is appended to the WABA's history and kept as the latest value of one aspect
of its subject (a template, a number, the WABA itself), so the connection and its numbers
show what Meta last said about them. A field's report is described once, as data.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from domain.commands import WabaReport
from domain.ports import UnitOfWork
from domain.reports import record_report
from schemas import waba as wire
from schemas.wire import WireModel
from workers.change import Change, Handler, Outcome, parse_value, unix_time


@dataclass(frozen=True, slots=True)
class ReportShape:
    """How one field's value becomes a report: its model, kind, subject and aspect."""

    model: type[WireModel]
    kind: Callable[[Any], str | None]
    subject: Callable[[Any], str]
    aspect: str


def _template(value: Any) -> str:
    return f"template:{value.message_template_id or value.message_template_name or 'unknown'}"


def _number(value: Any) -> str:
    return f"phone_number:{value.display_phone_number or 'unknown'}"


def _entity(value: wire.AccountAlerts) -> str:
    return f"entity:{value.entity_type or 'unknown'}:{value.entity_id or 'unknown'}"


def _waba(_: object) -> str:
    return "waba"


def _alert_type(value: wire.AccountAlerts) -> str | None:
    return value.alert_info.alert_type if value.alert_info is not None else None


REPORTS: Mapping[str, ReportShape] = {
    "message_template_status_update": ReportShape(
        wire.TemplateStatusUpdate, lambda v: v.event, _template, "status"
    ),
    "message_template_quality_update": ReportShape(
        wire.TemplateQualityUpdate, lambda v: v.new_quality_score, _template, "quality"
    ),
    "message_template_components_update": ReportShape(
        wire.TemplateComponentsUpdate, lambda v: "components", _template, "components"
    ),
    "template_category_update": ReportShape(
        wire.TemplateCategoryUpdate,
        lambda v: v.new_category or v.correct_category,
        _template,
        "category",
    ),
    "phone_number_quality_update": ReportShape(
        wire.PhoneNumberQualityUpdate, lambda v: v.event, _number, "quality"
    ),
    "phone_number_name_update": ReportShape(
        wire.PhoneNumberNameUpdate, lambda v: v.decision, _number, "name"
    ),
    "account_review_update": ReportShape(
        wire.AccountReviewUpdate, lambda v: v.decision, _waba, "review"
    ),
    "account_alerts": ReportShape(wire.AccountAlerts, _alert_type, _entity, "alert"),
    "business_capability_update": ReportShape(
        wire.BusinessCapabilityUpdate, lambda v: "capability", _waba, "capability"
    ),
    "security": ReportShape(wire.SecurityUpdate, lambda v: v.event, _number, "security"),
    "partner_solutions": ReportShape(
        wire.PartnerSolutions,
        lambda v: v.event,
        lambda v: f"solution:{v.solution_id or 'unknown'}",
        "solution",
    ),
    "business_username_update": ReportShape(
        wire.BusinessUsernameUpdate, lambda v: v.status, _number, "username"
    ),
}


def _report_handler(field: str, shape: ReportShape) -> Handler:
    def handle(change: Change, uow: UnitOfWork) -> Outcome:
        value = parse_value(shape.model, change)
        kind = shape.kind(value) or "unknown"
        aspect = f"alert:{kind}" if shape.aspect == "alert" else shape.aspect
        _record(
            change,
            uow,
            kind=kind,
            subject=shape.subject(value),
            aspect=aspect,
            occurred_at=change.occurred_at,
            details=change.value,
        )
        return Outcome.PROCESSED

    handle.__name__ = f"handle_{field}"
    return handle


def handle_user_preferences(change: Change, uow: UnitOfWork) -> Outcome:
    """Marketing opt-outs and opt-ins, one report per user (their latest choice wins)."""
    value = parse_value(wire.UserPreferences, change)
    raw_items = change.value.get("user_preferences") or []
    for index, preference in enumerate(value.user_preferences):
        who = preference.user_id or preference.wa_id or "unknown"
        when = (
            unix_time(preference.timestamp)
            if preference.timestamp is not None
            else change.occurred_at
        )
        _record(
            change,
            uow,
            kind=preference.value or "unknown",
            subject=f"customer:{who}",
            aspect=f"preference:{preference.category or 'unknown'}",
            occurred_at=when,
            details=raw_items[index],
            item=index,
        )
    return Outcome.PROCESSED


def _record(
    change: Change,
    uow: UnitOfWork,
    *,
    kind: str,
    subject: str,
    aspect: str,
    occurred_at: datetime,
    details: Mapping[str, Any],
    item: int | None = None,
) -> None:
    record_report(
        WabaReport(
            source=change.source() if item is None else change.source("item", item),
            waba_id=change.entry_id,
            field=change.field,
            kind=kind,
            subject=subject,
            occurred_at=occurred_at,
            aspect=aspect,
            details=details,
        ),
        uow,
    )


HANDLERS: Mapping[str, Handler] = {
    **{field: _report_handler(field, shape) for field, shape in REPORTS.items()},
    "user_preferences": handle_user_preferences,
}
