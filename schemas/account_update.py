"""The value of the ``account_update`` field: WABA lifecycle events (partner added, banned, …).

``event`` is any string (PARTNER_ADDED, PARTNER_REMOVED, ACCOUNT_VIOLATION, …, or one Meta adds
next quarter); the other keys depend on it and are all optional. Route by
``waba_info.waba_id``: for ``PARTNER_*`` events ``entry.id`` is a business portfolio id.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from schemas.wire import Timestamp, WireId, WireModel


class WabaInfo(WireModel):
    waba_id: WireId
    owner_business_id: WireId | None = None
    partner_app_id: WireId | None = None
    solution_id: WireId | None = None
    solution_partner_business_ids: list[WireId] | None = None
    ad_account_linked: WireId | None = None


class DisconnectionInfo(WireModel):
    """Why a coexistence number was disconnected (PARTNER_REMOVED)."""

    reason: str | None = None
    initiated_by: str | None = None


class BanInfo(WireModel):
    waba_ban_state: str | None = None
    # A display date such as "April 17, 2025", not a timestamp.
    waba_ban_date: str | None = None


class ViolationInfo(WireModel):
    violation_type: str | None = None


class RestrictionInfo(WireModel):
    restriction_type: str | None = None
    expiration: Timestamp | None = None
    remediation: str | None = None


class PartnerClientCertificationInfo(WireModel):
    """The outcome of partner-led business verification."""

    client_business_id: WireId | None = None
    status: str | None = None
    rejection_reasons: list[str] = Field(default_factory=list)


class VolumeTierInfo(WireModel):
    tier_update_time: Timestamp | None = None
    pricing_category: str | None = None
    # "min:max" message counts.
    tier: str | None = None
    # "YYYY-MM".
    effective_month: str | None = None
    region: str | None = None


class ExceptionCountry(WireModel):
    country_code: str | None = None
    start_time: Timestamp | None = None


class AuthInternationalRateEligibility(WireModel):
    exception_countries: list[ExceptionCountry] = Field(default_factory=list)
    start_time: Timestamp | None = None


class AccountUpdateValue(WireModel):
    """The value of an ``account_update`` change; only ``event`` is required."""

    event: str
    waba_info: WabaInfo | None = None
    disconnection_info: DisconnectionInfo | None = None
    ban_info: BanInfo | None = None
    violation_info: ViolationInfo | None = None
    restriction_info: list[RestrictionInfo] = Field(default_factory=list)
    partner_client_certification_info: PartnerClientCertificationInfo | None = None
    # Legacy VERIFIED_ACCOUNT.
    phone_number: WireId | None = None
    country: str | None = None
    volume_tier_info: VolumeTierInfo | None = None
    auth_international_rate_eligibility: AuthInternationalRateEligibility | None = None
    # Shape undocumented in the pages we read: kept as received.
    lock_info: dict[str, Any] | None = None

    @property
    def tracking_code(self) -> str | None:
        """A partner tracking code, if the payload happens to carry one; usually None.

        Meta documents no such key (FACTS §6.2); it is looked up under ``sessionInfo.trackingCode``,
        ``session_info.tracking_code`` or ``tracking_code`` so it is used if it ever appears.
        Never rely on it: correlate on ``waba_info`` instead.
        """
        extra = self.model_extra or {}
        for outer, inner in (("sessionInfo", "trackingCode"), ("session_info", "tracking_code")):
            nested = extra.get(outer)
            if isinstance(nested, dict) and (code := _as_code(nested.get(inner))) is not None:
                return code
        return _as_code(extra.get("tracking_code"))


def _as_code(raw: object) -> str | None:
    if isinstance(raw, str) and raw:
        return raw
    if isinstance(raw, int) and not isinstance(raw, bool):
        return str(raw)
    return None
