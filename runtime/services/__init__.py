"""Service functions shared by the CLI, the API and the operator console.

Each is synchronous and takes an **autocommit** psycopg connection: it opens the
transactions it needs itself and goes through the domain (``PgUnitOfWork``) where a rule
applies, so every caller gets the same behaviour, audit rows included. The API runs them in
a worker thread (``starlette.concurrency.run_in_threadpool``) on a small sync pool of its
own; the CLI on its one connection.

Errors: ``runtime.services.errors`` for what a caller answers (404, 409, 410, 422, exit 1),
plus the domain's own (``ConnectionNotFound``, ``WabaClaimedElsewhere``).
"""
