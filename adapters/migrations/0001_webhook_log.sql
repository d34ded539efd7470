-- The raw log: every signed webhook body exactly as Meta sent it, committed before the 200.
-- Range-partitioned by day (UTC) so retention drops whole partitions and ingest cost does not
-- grow with history. The body is never updated; processing state lives in the other columns.

CREATE SEQUENCE webhook_log_id_seq AS bigint;

CREATE TABLE webhook_log (
    id            bigint      NOT NULL DEFAULT nextval('webhook_log_id_seq'),
    received_at   timestamptz NOT NULL DEFAULT now(),
    sha256        bytea       NOT NULL CHECK (octet_length(sha256) = 32),
    body          bytea       NOT NULL,
    status        text        NOT NULL DEFAULT 'received'
                  CHECK (status IN ('received', 'split', 'processed', 'dead')),
    -- Event counters, maintained in the same transaction as each event's terminal change.
    events_total  integer     NOT NULL DEFAULT 0,
    events_open   integer     NOT NULL DEFAULT 0,
    events_dead   integer     NOT NULL DEFAULT 0,
    split_attempts integer    NOT NULL DEFAULT 0,
    -- When the relay should consider a 'received' webhook lost in the broker and re-enqueue it.
    due_at        timestamptz,
    split_at      timestamptz,
    finished_at   timestamptz,
    last_error    text,
    PRIMARY KEY (id, received_at)
) PARTITION BY RANGE (received_at);

ALTER SEQUENCE webhook_log_id_seq OWNED BY webhook_log.id;

-- Catches rows if partitions were not created ahead (scheduler down for days); the partition
-- function moves them out when it creates their day.
CREATE TABLE webhook_log_default PARTITION OF webhook_log DEFAULT;

CREATE INDEX webhook_log_due_idx ON webhook_log (due_at) WHERE status = 'received';
CREATE INDEX webhook_log_status_idx ON webhook_log (status, received_at);

-- Duplicate detection across every partition: the digest of each body ever accepted and
-- still retained. Not partitioned, so a retry that crosses a day boundary is still caught.
CREATE TABLE webhook_digest (
    sha256      bytea       PRIMARY KEY CHECK (octet_length(sha256) = 32),
    webhook_id  bigint      NOT NULL,
    received_at timestamptz NOT NULL
);

CREATE INDEX webhook_digest_received_at_idx ON webhook_digest (received_at);

-- Creates the daily partitions [first_day, first_day + days) that do not exist yet and
-- returns how many it created. Rows that fell into the default partition for a created day
-- are moved into it. Serialised by a transaction-level advisory lock.
CREATE FUNCTION wapipe_ensure_webhook_log_partitions(first_day date, days integer)
RETURNS integer
LANGUAGE plpgsql
AS $$
DECLARE
    day      date;
    name     text;
    lower_ts timestamptz;
    upper_ts timestamptz;
    created  integer := 0;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('wapipe.webhook_log.partitions'));
    FOR offset_days IN 0 .. days - 1 LOOP
        day := first_day + offset_days;
        name := format('webhook_log_p%s', to_char(day, 'YYYYMMDD'));
        CONTINUE WHEN to_regclass(name) IS NOT NULL;
        lower_ts := day::timestamp AT TIME ZONE 'UTC';
        upper_ts := (day + 1)::timestamp AT TIME ZONE 'UTC';
        IF EXISTS (SELECT 1 FROM webhook_log_default
                   WHERE received_at >= lower_ts AND received_at < upper_ts) THEN
            ALTER TABLE webhook_log DETACH PARTITION webhook_log_default;
            EXECUTE format('CREATE TABLE %I PARTITION OF webhook_log FOR VALUES FROM (%L) TO (%L)',
                           name, lower_ts, upper_ts);
            EXECUTE format('INSERT INTO %I SELECT * FROM webhook_log_default
                            WHERE received_at >= %L AND received_at < %L',
                           name, lower_ts, upper_ts);
            DELETE FROM webhook_log_default
             WHERE received_at >= lower_ts AND received_at < upper_ts;
            ALTER TABLE webhook_log ATTACH PARTITION webhook_log_default DEFAULT;
        ELSE
            EXECUTE format('CREATE TABLE %I PARTITION OF webhook_log FOR VALUES FROM (%L) TO (%L)',
                           name, lower_ts, upper_ts);
        END IF;
        created := created + 1;
    END LOOP;
    RETURN created;
END;
$$;
