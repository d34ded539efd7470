-- One row per entry[].changes[] of a webhook: the unit of processing, retry and dead letter.

CREATE TABLE event (
    id                  bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    webhook_id          bigint      NOT NULL,
    webhook_received_at timestamptz NOT NULL,  -- partition key of the webhook row
    entry_index         integer     NOT NULL CHECK (entry_index >= 0),
    change_index        integer     NOT NULL CHECK (change_index >= 0),
    entry_id            text        NOT NULL,
    entry_time          bigint,
    field               text        NOT NULL,
    value               jsonb       NOT NULL,
    status              text        NOT NULL DEFAULT 'pending'
                        CHECK (status IN ('pending', 'processing', 'retrying',
                                          'processed', 'ignored', 'dead')),
    -- Incremented in its own committed transaction at the start of every attempt, so an
    -- attempt that kills its worker still counts.
    attempts            integer     NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    -- Fencing token of the current claim: only the holder may commit the outcome.
    claim_token         uuid,
    created_at          timestamptz NOT NULL DEFAULT now(),
    claimed_at          timestamptz,
    next_attempt_at     timestamptz,
    -- When the relay should consider the event lost (broker down, worker killed).
    due_at              timestamptz,
    finished_at         timestamptz,
    last_error          text,
    UNIQUE (webhook_id, entry_index, change_index)
);

CREATE INDEX event_due_idx ON event (due_at) WHERE status IN ('pending', 'processing', 'retrying');
CREATE INDEX event_open_created_idx ON event (created_at)
    WHERE status IN ('pending', 'processing', 'retrying');
