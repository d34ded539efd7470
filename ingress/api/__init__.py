"""``/api/v1``: the SaaS backend's API, mounted on the ingress (SPEC §8).

``routes.ROUTES`` declares every route once, as data; ``routing`` builds the Starlette routes
from it (guards, parameter validation, answers from response models); ``auth`` turns the
``Authorization: Bearer`` key into a principal; ``app.create_api`` puts them together.
"""
