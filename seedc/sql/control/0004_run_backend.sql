-- seedc control schema, version 4 (issue 10 item 4): a run row names its control session
-- (backend pid and start), so a run whose process died (kill -9, a lost network) is seen as
-- `abandoned` as soon as that session is gone, not only once its 60-second lease expires.
ALTER TABLE seedc.runs ADD COLUMN IF NOT EXISTS backend_pid integer;
ALTER TABLE seedc.runs ADD COLUMN IF NOT EXISTS backend_start timestamptz;
