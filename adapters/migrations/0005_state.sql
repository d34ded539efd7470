-- What the webhooks mean: connections (one per WABA), their phone numbers, customers, messages
-- and their statuses, and what the other WABA fields report. Every write is idempotent (keyed by
-- Meta's ids or by the event that caused it) and order-independent (latest by Meta's time wins,
-- statuses only move forward), so duplicates, relays, replays and reordering converge.

-- The event a derived row came from, when its text held U+0000 (stored as U+FFFD; SPEC §6).
ALTER TABLE event ADD COLUMN nul_replaced boolean NOT NULL DEFAULT false;

-- One connection per WABA; organization NULL = orphan (nobody claimed it yet).
CREATE TABLE connection (
    waba_id           text        PRIMARY KEY,
    organization_id   text,
    owner_business_id text,
    status            text        NOT NULL,
    status_reason     text,
    -- Meta's time and the source of the account event that set ``status``: an older event that
    -- arrives late is kept in the history but never overrides a newer one.
    status_at         timestamptz NOT NULL,
    status_source     text        NOT NULL,
    detected_at       timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX connection_organization_idx ON connection (organization_id, waba_id);
CREATE INDEX connection_owner_business_idx ON connection (owner_business_id)
    WHERE organization_id IS NOT NULL;
CREATE INDEX connection_orphan_idx ON connection (detected_at) WHERE organization_id IS NULL;

-- Onboarding sessions started by the SaaS (SPEC §7); a PARTNER_ADDED that carries a tracking
-- code is attributed through it.
CREATE TABLE onboarding (
    tracking_code   text        PRIMARY KEY,
    organization_id text        NOT NULL,
    status          text        NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'session_received', 'completed', 'expired')),
    waba_id         text,
    expires_at      timestamptz NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX onboarding_waba_idx ON onboarding (waba_id) WHERE waba_id IS NOT NULL;

-- Phone numbers of a WABA, learnt from onboarding or from the webhooks that name them.
CREATE TABLE phone_number (
    phone_number_id      text        PRIMARY KEY,
    waba_id              text        NOT NULL,
    display_phone_number text,
    status               text        NOT NULL DEFAULT 'connected',
    first_seen_at        timestamptz NOT NULL DEFAULT now(),
    last_inbound_at      timestamptz,
    updated_at           timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX phone_number_waba_idx ON phone_number (waba_id);
CREATE INDEX phone_number_display_idx ON phone_number (display_phone_number);

-- A WhatsApp user as one WABA sees them: keyed by the business-scoped user id (2026) when Meta
-- sends one, else by the phone number (wa_id). Username-only users have no wa_id at all.
CREATE TABLE customer (
    id              bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    waba_id         text        NOT NULL,
    customer_key    text        NOT NULL,
    user_id         text,
    parent_user_id  text,
    wa_id           text,
    username        text,
    name            text,
    -- The message that last set the profile (Meta's time, then wamid): later wins.
    profile_at      timestamptz,
    profile_source  text,
    first_seen_at   timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (waba_id, customer_key)
);

-- Messages, inbound and outbound (outbound known from statuses, echoes and history).
CREATE TABLE message (
    id                bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,  -- arrival order
    wamid             text        NOT NULL UNIQUE,
    direction         text        NOT NULL CHECK (direction IN ('inbound', 'outbound')),
    organization_id   text,
    waba_id           text,
    phone_number_id   text,
    customer_id       bigint      REFERENCES customer (id),
    type              text,
    sent_at           timestamptz,
    text              text,
    media_id          text,
    mime_type         text,
    latitude          double precision,
    longitude         double precision,
    location_name     text,
    reply_id          text,       -- id of the interactive/button reply chosen
    related_wamid     text,       -- replied-to, reacted-to, edited or revoked message
    origin            text        NOT NULL,  -- messages, smb_message_echoes, history, statuses
    raw               jsonb,
    status            text,
    status_rank       smallint    NOT NULL DEFAULT 0,
    status_at         timestamptz,
    nul_replaced      boolean     NOT NULL DEFAULT false,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX message_organization_idx ON message (organization_id, id);
CREATE INDEX message_unattributed_idx ON message (waba_id) WHERE organization_id IS NULL;

-- Every status Meta reported, once per (wamid, status).
CREATE TABLE message_status (
    wamid             text        NOT NULL,
    status            text        NOT NULL,
    occurred_at       timestamptz NOT NULL,
    recipient_id      text,
    recipient_user_id text,
    errors            jsonb       NOT NULL DEFAULT '[]',
    pricing           jsonb,
    conversation      jsonb,
    callback_data     text,
    raw               jsonb       NOT NULL,
    recorded_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (wamid, status)
);

-- The history of account events and of what the other WABA fields report, one row per report.
-- ``subject`` names what it is about: ``waba``, ``phone_number:<display number>`` (the
-- number fields name it so), ``phone_number_id:<id>`` (errors in a ``messages`` value),
-- ``template:<id>``, ``entity:<type>:<id>`` (alerts), ``customer:<id>``, ``solution:<id>``.
CREATE TABLE account_history (
    id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source      text        NOT NULL UNIQUE,
    waba_id     text        NOT NULL,
    field       text        NOT NULL,
    kind        text        NOT NULL,
    subject     text        NOT NULL,
    occurred_at timestamptz NOT NULL,
    details     jsonb       NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX account_history_waba_idx ON account_history (waba_id, occurred_at);

-- The latest report per (WABA, subject, aspect): template status, quality, name decision,
-- review, ban, capability, security, alerts… Later (Meta's time, then source) wins.
CREATE TABLE account_state (
    waba_id  text        NOT NULL,
    subject  text        NOT NULL,
    aspect   text        NOT NULL,
    value    jsonb       NOT NULL,
    as_of    timestamptz NOT NULL,
    source   text        NOT NULL,
    PRIMARY KEY (waba_id, subject, aspect)
);

-- Coexistence: the WhatsApp Business app's contact book as its state sync reports it.
CREATE TABLE business_contact (
    phone_number_id text        NOT NULL,
    contact_phone   text        NOT NULL,
    waba_id         text        NOT NULL,
    full_name       text,
    first_name      text,
    present         boolean     NOT NULL,
    as_of           timestamptz NOT NULL,
    source          text        NOT NULL,
    PRIMARY KEY (phone_number_id, contact_phone)
);

-- Coexistence: chat-history chunks as Meta delivers them (their messages go to ``message``).
CREATE TABLE history_chunk (
    source          text        PRIMARY KEY,
    waba_id         text        NOT NULL,
    phone_number_id text        NOT NULL,
    phase           integer,
    chunk_order     integer,
    progress        integer,
    threads         integer     NOT NULL,
    messages        integer     NOT NULL,
    errors          jsonb       NOT NULL DEFAULT '[]',
    recorded_at     timestamptz NOT NULL DEFAULT now()
);
