-- API keys (SPEC §8): random, shown once, stored as the sha256 of their secret part. The key is
-- 32 random bytes, so a fast hash is enough: there is nothing to brute-force that a slow hash
-- would protect. The id is part of the key (``wpk_<id>_<secret>``): authentication fetches one
-- row by primary key and compares the hashes in constant time.

CREATE TABLE api_key (
    id              text        PRIMARY KEY CHECK (id ~ '^ak_[0-9a-f]{12}$'),
    key_hash        bytea       NOT NULL CHECK (octet_length(key_hash) = 32),
    scope           text        NOT NULL CHECK (scope IN ('admin', 'organization')),
    organization_id text        CHECK (organization_id <> ''),
    name            text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    revoked_at      timestamptz,
    -- An organization key names its organization; an admin key names none.
    CONSTRAINT api_key_scope_organization CHECK ((scope = 'organization') = (organization_id IS NOT NULL))
);
