"""The route table is the one description of the API: it must say what the routes do."""

from __future__ import annotations

import pytest
from pydantic import BaseModel

from ingress.api.models import MessageParams, OrganizationParams
from ingress.api.routes import ROUTES
from ingress.api.routing import ApiCall, ApiRoute, NoParams, check_table


class Empty(BaseModel):
    pass


async def answer(call: ApiCall[OrganizationParams, None]) -> Empty:
    return Empty()


async def other(call: ApiCall[OrganizationParams, None]) -> Empty:
    return Empty()


def route(path: str = "/organizations/{org}/things", **fields: object) -> ApiRoute:
    spec: dict[str, object] = {
        "method": "GET",
        "path": path,
        "endpoint": answer,
        "params": OrganizationParams,
        "response": Empty,
        "security": "organization",
    }
    spec.update(fields)
    return ApiRoute(**spec)  # type: ignore[arg-type]


def test_the_shipped_table_passes_its_own_rules():
    check_table(ROUTES)


def test_every_shipped_route_validates_its_parameters_strictly():
    for api_route in ROUTES:
        assert api_route.params.model_config.get("extra") == "forbid", api_route.name
        assert api_route.path_names <= set(api_route.params.model_fields), api_route.name


#: Routes whose organization is in the body or in the stored row, not in the path: their
#: endpoints check the key (tests/integration/api covers each one's cross-organization 404).
SCOPED_BY_THEIR_ENDPOINT = frozenset(
    {"create_onboarding", "get_onboarding", "post_session", "select_phone"}
)


def test_every_shipped_route_is_admin_only_or_scoped_to_an_organization():
    for api_route in ROUTES:
        if api_route.security == "admin":
            assert api_route.path.startswith("/admin/"), api_route.name
            continue
        assert api_route.security == "organization", api_route.name
        assert "org" in api_route.path_names or api_route.name in SCOPED_BY_THEIR_ENDPOINT, (
            api_route.name
        )


def test_every_shipped_body_forbids_unknown_fields():
    for api_route in ROUTES:
        if api_route.body is not None:
            assert api_route.body.model_config.get("extra") == "forbid", api_route.name


def test_a_route_declared_twice_is_refused():
    with pytest.raises(ValueError, match="declared twice"):
        check_table([route(), route(endpoint=other)])


def test_two_routes_with_one_name_are_refused():
    with pytest.raises(ValueError, match="name used twice"):
        check_table([route(), route("/organizations/{org}/others")])


def test_a_path_parameter_missing_from_the_model_is_refused():
    with pytest.raises(ValueError, match=r"\['wamid'\] not in its model"):
        check_table([route("/organizations/{org}/things/{wamid}")])


def test_a_path_parameter_in_the_model_is_accepted():
    check_table([route("/organizations/{org}/things/{wamid:path}", params=MessageParams)])


def test_an_admin_path_that_is_not_admin_only_is_refused():
    with pytest.raises(ValueError, match="security admin"):
        check_table([route("/admin/things", params=NoParams)])


def test_admin_security_outside_the_admin_namespace_is_refused():
    with pytest.raises(ValueError, match="security admin"):
        check_table([route(security="admin")])


def test_an_organizations_resource_open_to_anyone_is_refused():
    with pytest.raises(ValueError, match="needs a key"):
        check_table([route(security="none")])


def test_an_unknown_method_is_refused():
    with pytest.raises(ValueError, match="unknown method"):
        check_table([route(method="get")])
