-- Least privilege on PostgreSQL (issue 12, point 10), the rest of it.
--
-- 0006 made intake SECURITY DEFINER and took `decide` from PUBLIC. Still
-- open were: withdrawal ran with the caller's rights (a backend role needed
-- UPDATE on records and INSERT on record_events to call it, and with them
-- could forge any event); backends had no way to read a status without
-- SELECT on records; every other function stayed executable by PUBLIC;
-- nothing in the database kept status changes to the state machine; and
-- TRUNCATE skips the row triggers that keep the event log append-only and
-- verified records in place.
--
-- A backend role now needs USAGE on the schema and nothing else: EXECUTE on
-- the entry points below is the only right PUBLIC keeps (jobs/README.md,
-- "Database roles").

-- Withdrawal with its owner's rights, like intake.
CREATE OR REPLACE FUNCTION credverify.withdraw_record(
    p_record_id     BIGINT,
    p_candidate_id  TEXT,
    p_actor         TEXT DEFAULT NULL,
    p_note          TEXT DEFAULT NULL
) RETURNS TEXT
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_status  TEXT;
    v_now     TIMESTAMPTZ := now();
BEGIN
    SELECT status INTO v_status FROM credverify.records
    WHERE id = p_record_id AND candidate_id = p_candidate_id
    FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'record % does not exist for candidate %', p_record_id, p_candidate_id
            USING ERRCODE = 'CV003';
    END IF;
    IF v_status = 'withdrawn' THEN
        RETURN 'withdrawn';
    END IF;
    IF v_status <> 'unverified' THEN
        RAISE EXCEPTION 'record % is %; only unverified records can be withdrawn', p_record_id, v_status
            USING ERRCODE = 'CV004';
    END IF;
    UPDATE credverify.records
    SET status = 'withdrawn', job_id = NULL, next_attempt_at = NULL, retries_exhausted = false,
        updated_at = v_now
    WHERE id = p_record_id;
    INSERT INTO credverify.record_events (record_id, at, actor, from_status, to_status, reasons, note)
    VALUES (p_record_id, v_now, coalesce(nullif(btrim(p_actor), ''), 'candidate:' || p_candidate_id),
            'unverified', 'withdrawn', '[]', p_note);
    RETURN 'withdrawn';
END;
$$;

-- A status for backends: the record's status and its reasons' codes (what
-- the notifications carry), nothing of the candidate's identity. With
-- p_candidate_id, only if the record is that candidate's.
CREATE FUNCTION credverify.record_status(p_record_id BIGINT, p_candidate_id TEXT DEFAULT NULL)
RETURNS TABLE (record_id BIGINT, candidate_id TEXT, status TEXT, reasons JSONB,
               updated_at TIMESTAMPTZ, decided_at TIMESTAMPTZ)
LANGUAGE sql STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT r.id, r.candidate_id, r.status,
           COALESCE((SELECT jsonb_agg(x->>'code') FROM jsonb_array_elements(r.reasons) x), '[]'::jsonb),
           r.updated_at, r.decided_at
    FROM credverify.records r
    WHERE r.id = p_record_id AND (p_candidate_id IS NULL OR r.candidate_id = p_candidate_id);
$$;

-- Every record of one candidate, newest first, in the same shape.
CREATE FUNCTION credverify.candidate_records(p_candidate_id TEXT)
RETURNS TABLE (record_id BIGINT, candidate_id TEXT, status TEXT, reasons JSONB,
               updated_at TIMESTAMPTZ, decided_at TIMESTAMPTZ)
LANGUAGE sql STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT r.id, r.candidate_id, r.status,
           COALESCE((SELECT jsonb_agg(x->>'code') FROM jsonb_array_elements(r.reasons) x), '[]'::jsonb),
           r.updated_at, r.decided_at
    FROM credverify.records r
    WHERE r.candidate_id = p_candidate_id
    ORDER BY r.id DESC;
$$;

-- PUBLIC keeps EXECUTE on the entry points only (and the functions they
-- call run as their owner). Functions later migrations create start the
-- same way.
REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA credverify FROM PUBLIC;
ALTER DEFAULT PRIVILEGES IN SCHEMA credverify REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
    credverify.submit_record(TEXT, TEXT, JSONB, TEXT, TEXT, BYTEA, TEXT),
    credverify.submit(TEXT, TEXT, JSONB, TEXT, TEXT, BYTEA, TEXT),
    credverify.withdraw_record(BIGINT, TEXT, TEXT, TEXT),
    credverify.record_status(BIGINT, TEXT),
    credverify.candidate_records(TEXT)
TO PUBLIC;
REVOKE ALL ON ALL TABLES IN SCHEMA credverify FROM PUBLIC;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA credverify FROM PUBLIC;

-- The state machine of src/domain/status.rs (Status::can_become, over every
-- actor), for every writer: a test checks that the two agree.
CREATE TABLE credverify.status_transitions (
    from_status TEXT NOT NULL,
    to_status   TEXT NOT NULL,
    PRIMARY KEY (from_status, to_status)
);
INSERT INTO credverify.status_transitions (from_status, to_status) VALUES
    ('unverified', 'verified'), ('unverified', 'rejected'), ('unverified', 'needs_review'),
    ('unverified', 'withdrawn'),
    ('needs_review', 'verified'), ('needs_review', 'rejected'), ('needs_review', 'unverified'),
    ('rejected', 'unverified'),
    ('verified', 'rejected'), ('verified', 'unverified');

CREATE FUNCTION credverify.legal_status_change() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        IF NEW.status <> 'unverified' THEN
            RAISE EXCEPTION 'a record starts unverified, not %', NEW.status USING ERRCODE = 'P0001';
        END IF;
    ELSIF NOT EXISTS (SELECT 1 FROM credverify.status_transitions t
                      WHERE t.from_status = OLD.status AND t.to_status = NEW.status) THEN
        RAISE EXCEPTION 'illegal status change: % -> %', OLD.status, NEW.status USING ERRCODE = 'P0001';
    END IF;
    RETURN NEW;
END;
$$;

CREATE TRIGGER records_start_unverified
BEFORE INSERT ON credverify.records
FOR EACH ROW EXECUTE FUNCTION credverify.legal_status_change();

CREATE TRIGGER status_changes_are_legal
BEFORE UPDATE OF status ON credverify.records
FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status)
EXECUTE FUNCTION credverify.legal_status_change();

-- TRUNCATE fires no row trigger: without these it would empty the
-- append-only event log and delete verified records, even for the owner.
CREATE TRIGGER record_events_not_truncated
BEFORE TRUNCATE ON credverify.record_events
FOR EACH STATEMENT EXECUTE FUNCTION credverify.refuse('record_events is append-only');

CREATE TRIGGER records_not_truncated
BEFORE TRUNCATE ON credverify.records
FOR EACH STATEMENT EXECUTE FUNCTION credverify.refuse('verified records cannot be deleted');
