-- Log retention (SPEC §3 LOG_RETENTION_DAYS) drops whole daily partitions of webhook_log, but
-- dead letters are kept until an operator purges them, and `wapipe dlq show` must still print
-- their raw payload. Before a partition is dropped, the rows that a dead letter (open or
-- replayed) names are copied here, in the same transaction as the drop. Not partitioned: it
-- only ever holds the few webhooks that died, and the retention job deletes a row once no
-- dead letter names it any more.

CREATE TABLE webhook_archive (
    id             bigint      NOT NULL,
    received_at    timestamptz NOT NULL,
    sha256         bytea       NOT NULL CHECK (octet_length(sha256) = 32),
    body           bytea       NOT NULL,
    status         text        NOT NULL,
    events_total   integer     NOT NULL,
    events_open    integer     NOT NULL,
    events_dead    integer     NOT NULL,
    split_attempts integer     NOT NULL,
    split_at       timestamptz,
    finished_at    timestamptz,
    last_error     text,
    source_ip      inet,
    headers        jsonb,
    archived_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (id, received_at)
);
