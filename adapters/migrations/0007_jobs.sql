-- Jobs that do not come from a webhook (the onboarding completion job, token checks) run
-- through the same machinery as webhook changes: an ``event`` row with an attempt counter,
-- retries with backoff, a dead letter with a reason, replay. A job has no webhook: its
-- ``field`` names the job and ``value`` holds its parameters.

ALTER TABLE event ADD COLUMN kind text NOT NULL DEFAULT 'change'
    CHECK (kind IN ('change', 'job'));
-- At most one job per key (e.g. one completion job per onboarding): enqueueing twice is a
-- no-op, and a replay reuses the row.
ALTER TABLE event ADD COLUMN job_key text;

ALTER TABLE event ALTER COLUMN webhook_id DROP NOT NULL;
ALTER TABLE event ALTER COLUMN webhook_received_at DROP NOT NULL;
ALTER TABLE event ALTER COLUMN entry_index DROP NOT NULL;
ALTER TABLE event ALTER COLUMN change_index DROP NOT NULL;
ALTER TABLE event ALTER COLUMN entry_id DROP NOT NULL;

-- A change has its webhook and place in it; a job has a key and nothing of a webhook.
ALTER TABLE event ADD CONSTRAINT event_kind_shape CHECK (
    CASE kind
        WHEN 'change' THEN webhook_id IS NOT NULL AND webhook_received_at IS NOT NULL
                       AND entry_index IS NOT NULL AND change_index IS NOT NULL
                       AND entry_id IS NOT NULL AND job_key IS NULL
        ELSE webhook_id IS NULL AND webhook_received_at IS NULL AND job_key IS NOT NULL
    END
) NOT VALID;
ALTER TABLE event VALIDATE CONSTRAINT event_kind_shape;

CREATE UNIQUE INDEX event_job_key_idx ON event (job_key) WHERE job_key IS NOT NULL;

-- A job's dead letter names its event and no webhook.
ALTER TABLE dead_letter ALTER COLUMN webhook_id DROP NOT NULL;
ALTER TABLE dead_letter ALTER COLUMN webhook_received_at DROP NOT NULL;
ALTER TABLE dead_letter ADD CONSTRAINT dead_letter_names_something
    CHECK (webhook_id IS NOT NULL OR event_id IS NOT NULL) NOT VALID;
ALTER TABLE dead_letter VALIDATE CONSTRAINT dead_letter_names_something;

-- The onboarding's progress through Embedded Signup and its completion job (SPEC §7): what
-- the session reported, and the last step the job finished (it resumes after it).
ALTER TABLE onboarding ADD COLUMN business_id text;
ALTER TABLE onboarding ADD COLUMN phone_number_id text;
ALTER TABLE onboarding ADD COLUMN signup_event text;
ALTER TABLE onboarding ADD COLUMN step text;
ALTER TABLE onboarding ADD COLUMN error text;
ALTER TABLE onboarding ADD COLUMN session_at timestamptz;
ALTER TABLE onboarding ADD COLUMN completed_at timestamptz;
CREATE INDEX onboarding_pending_expiry_idx ON onboarding (expires_at) WHERE status = 'pending';

-- A number's activation (registration, coexistence syncs): the last step done, so a retry
-- never repeats a one-shot call; and whether Graph lists it as on the Business app.
ALTER TABLE phone_number ADD COLUMN activation_step text;
ALTER TABLE phone_number ADD COLUMN coexistence boolean NOT NULL DEFAULT false;

-- Connections whose token or setup needs the customer to go through Embedded Signup again.
ALTER TABLE connection ADD COLUMN reconnect_reason text;

-- Operators' actions (orphan claims, replays from the API/console): who, when, what.
CREATE TABLE audit_log (
    id         bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at         timestamptz NOT NULL DEFAULT now(),
    actor      text        NOT NULL,
    action     text        NOT NULL,
    subject    text        NOT NULL,
    details    jsonb       NOT NULL DEFAULT '{}'
);

CREATE INDEX audit_log_subject_idx ON audit_log (subject, at);
