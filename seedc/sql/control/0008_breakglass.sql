-- seedc control schema, version 8: breakglass tickets (issue 15, spec session 5).
-- A manual run outside isolated dev needs a ticket requested by one database role, approved by
-- a different one, valid at most 4 hours and spent by exactly one run. Who did what is stamped
-- by the trigger from session_user: a client cannot write another role's name.

CREATE TABLE IF NOT EXISTS seedc.breakglass (
    id            uuid PRIMARY KEY,
    tenant        text NOT NULL,
    environment   text NOT NULL,
    reason        text NOT NULL CHECK (length(btrim(reason)) > 0),
    requested_by  text NOT NULL,
    requested_at  timestamptz NOT NULL,
    approved_by   text,
    approved_at   timestamptz,
    expires_at    timestamptz,
    used_at       timestamptz,
    used_by_run   uuid,
    CONSTRAINT breakglass_not_self_approved CHECK (approved_by IS NULL OR approved_by <> requested_by),
    CONSTRAINT breakglass_at_most_4h CHECK (
        (approved_by IS NULL AND approved_at IS NULL AND expires_at IS NULL)
        OR (approved_by IS NOT NULL AND expires_at > approved_at
            AND expires_at <= approved_at + interval '4 hours')),
    CONSTRAINT breakglass_used_once_approved CHECK (used_at IS NULL OR approved_by IS NOT NULL)
);

CREATE OR REPLACE FUNCTION seedc.breakglass_stamp() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        NEW.requested_by := session_user;
        NEW.requested_at := now();
        NEW.approved_by := NULL;
        NEW.approved_at := NULL;
        NEW.expires_at := NULL;
        NEW.used_at := NULL;
        NEW.used_by_run := NULL;
        RETURN NEW;
    END IF;
    IF (NEW.id, NEW.tenant, NEW.environment, NEW.reason, NEW.requested_by, NEW.requested_at)
        IS DISTINCT FROM
       (OLD.id, OLD.tenant, OLD.environment, OLD.reason, OLD.requested_by, OLD.requested_at) THEN
        RAISE EXCEPTION 'a breakglass request cannot be edited';
    END IF;
    IF (NEW.approved_by, NEW.approved_at, NEW.expires_at)
        IS DISTINCT FROM (OLD.approved_by, OLD.approved_at, OLD.expires_at) THEN
        IF OLD.approved_by IS NOT NULL THEN
            RAISE EXCEPTION 'a breakglass ticket is approved once';
        END IF;
        NEW.approved_by := session_user;
        NEW.expires_at := now() + (NEW.expires_at - NEW.approved_at);
        NEW.approved_at := now();
    END IF;
    IF (NEW.used_at, NEW.used_by_run) IS DISTINCT FROM (OLD.used_at, OLD.used_by_run) THEN
        IF OLD.used_at IS NOT NULL THEN
            RAISE EXCEPTION 'a breakglass ticket is used once';
        END IF;
        NEW.used_at := now();
    END IF;
    RETURN NEW;
END $$;

DROP TRIGGER IF EXISTS breakglass_stamp ON seedc.breakglass;
CREATE TRIGGER breakglass_stamp BEFORE INSERT OR UPDATE ON seedc.breakglass
    FOR EACH ROW EXECUTE FUNCTION seedc.breakglass_stamp();
