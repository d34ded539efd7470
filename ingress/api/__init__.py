"""``/api/v1``: the SaaS backend's API, mounted on the ingress (SPEC §8).

``routes.ROUTES`` declares every route once, as data; ``routing`` builds the Starlette routes
from it (guards, parameter validation, answers from response models); ``auth`` turns the
``Authorization: Bearer`` key into a principal; ``context`` holds what endpoints work with
(pools, broker, cache, code exchange, cipher); ``app.create_api`` puts them together.
Endpoints by resource: ``onboardings``, ``connections``, ``messages``, ``admin`` (orphans,
dead letters) — the ones that change state call ``runtime.services``, as the CLI does.
"""
