-- The dead-letter queue of record. Dramatiq's own Redis dead-letter set expires after seven
-- days; this table keeps every dead letter until an operator purges it.

CREATE TABLE dead_letter (
    id                  bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    webhook_id          bigint      NOT NULL,
    webhook_received_at timestamptz NOT NULL,
    event_id            bigint,     -- NULL when the whole webhook could not be split
    field               text,
    reason              text        NOT NULL,
    error               text        NOT NULL,
    attempts            integer     NOT NULL,
    dead_at             timestamptz NOT NULL DEFAULT now(),
    replayed_at         timestamptz
);

-- At most one open dead letter per event and per unsplittable webhook: dead-lettering twice
-- (worker and Dramatiq's after_nack hook) records it once.
CREATE UNIQUE INDEX dead_letter_open_event_idx ON dead_letter (event_id)
    WHERE replayed_at IS NULL AND event_id IS NOT NULL;
CREATE UNIQUE INDEX dead_letter_open_webhook_idx ON dead_letter (webhook_id)
    WHERE replayed_at IS NULL AND event_id IS NULL;
CREATE INDEX dead_letter_open_dead_at_idx ON dead_letter (dead_at) WHERE replayed_at IS NULL;
CREATE INDEX dead_letter_webhook_idx ON dead_letter (webhook_id);
