-- seedc control schema, version 2: a queued run records its backend, so a run killed while
-- waiting stops holding the head of the queue as soon as its session is gone (instead of
-- until its 5-minute TTL expires).
ALTER TABLE seedc.queue ADD COLUMN IF NOT EXISTS backend_pid integer;
