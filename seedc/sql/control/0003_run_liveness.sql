-- seedc control schema, version 3 (issue 10 items 3-4): a run row carries when its lease
-- expires (renewed by the run's heartbeat), so a run that crashed without a finish is seen as
-- `abandoned` by the next run of its environment, `seedc runs`, purge and reset, instead of
-- staying `running` forever.
ALTER TABLE seedc.runs ADD COLUMN IF NOT EXISTS lease_expires_at timestamptz;
ALTER TABLE seedc.runs ADD COLUMN IF NOT EXISTS abandoned_at timestamptz;
-- status: running | succeeded | noop | refused | failed | aborted | abandoned
CREATE INDEX IF NOT EXISTS runs_running ON seedc.runs (environment) WHERE status = 'running';
