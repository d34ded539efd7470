-- Business tokens (SPEC §9), one per WABA, and what the last health check said of each.
-- ``ciphertext`` holds ``v1.<kid>.<nonce>.<data>`` (AES-256-GCM, associated data
-- ``business_token:<waba_id>``) and ``key_id`` its kid, so rotation finds the rows still under
-- an old key without decrypting anything. A legacy row holds the plaintext token with
-- ``key_id`` NULL until ``wapipe tokens encrypt-legacy`` encrypts it. Tokens are opaque and of
-- variable length (Meta): unbounded text. No foreign key to ``connection``: onboarding stores
-- the token as soon as the code is exchanged, whichever of the two rows comes first.

CREATE TABLE business_token (
    waba_id     text        PRIMARY KEY,
    ciphertext  text        NOT NULL CHECK (ciphertext <> ''),
    key_id      text,
    status      text        NOT NULL DEFAULT 'unchecked'
                CHECK (status IN ('unchecked', 'valid', 'expiring_soon', 'critical', 'invalid',
                                  'undecryptable')),
    reason      text,
    expires_at  timestamptz,  -- NULL: never expires, or not known yet
    scopes      text[],
    checked_at  timestamptz,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    -- key_id is the kid the ciphertext names; a plaintext (legacy) row has none.
    CONSTRAINT business_token_key_id CHECK (
        CASE WHEN key_id IS NULL THEN ciphertext NOT LIKE 'v1.%'
             ELSE split_part(ciphertext, '.', 1) = 'v1' AND split_part(ciphertext, '.', 2) = key_id
        END
    )
);
