-- Who delivered each webhook (SPEC §5.3): the client address the per-IP limits counted and the
-- few request headers worth keeping for an investigation. Both NULL for rows logged before.

ALTER TABLE webhook_log ADD COLUMN source_ip inet;
ALTER TABLE webhook_log ADD COLUMN headers jsonb;
