-- Withdrawal (DESIGN §3): a candidate may take back a record that is still
-- unverified; it becomes `withdrawn` and no longer counts toward the
-- five-record limit. A withdrawn record stays (with its events), and stays
-- withdrawn. Also the review desk's operators.

ALTER TABLE credverify.records DROP CONSTRAINT records_status_check;
ALTER TABLE credverify.records ADD CONSTRAINT records_status_check
    CHECK (status IN ('unverified', 'verified', 'rejected', 'needs_review', 'withdrawn'));

CREATE OR REPLACE FUNCTION credverify.enforce_record_limit() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO credverify.candidates (id) VALUES (NEW.candidate_id) ON CONFLICT DO NOTHING;
    PERFORM 1 FROM credverify.candidates WHERE id = NEW.candidate_id FOR UPDATE;
    IF (SELECT count(*) FROM credverify.records
        WHERE candidate_id = NEW.candidate_id AND status <> 'withdrawn') >= 5 THEN
        RAISE EXCEPTION 'record limit reached: candidate % holds at most 5 records', NEW.candidate_id
            USING ERRCODE = 'CV001';
    END IF;
    RETURN NEW;
END;
$$;

-- Re-opening a withdrawn record would hand the candidate a sixth place.
CREATE TRIGGER withdrawn_records_stay_withdrawn
BEFORE UPDATE OF status ON credverify.records
FOR EACH ROW WHEN (OLD.status = 'withdrawn' AND NEW.status <> 'withdrawn')
EXECUTE FUNCTION credverify.refuse('a withdrawn record stays withdrawn');

-- credverify.withdraw_record: the candidate takes a record back, through the
-- registration backend, while it is still unverified. The candidate id must
-- match the record's, so a backend cannot withdraw another candidate's
-- record by a wrong id. Withdrawing twice is harmless (one event).
--
-- Returns 'withdrawn'. Errors: SQLSTATE CV003 = no such record for this
-- candidate; CV004 = the record is already decided (verified, rejected or
-- needs_review) and cannot be withdrawn.
CREATE FUNCTION credverify.withdraw_record(
    p_record_id     BIGINT,
    p_candidate_id  TEXT,
    p_actor         TEXT DEFAULT NULL,
    p_note          TEXT DEFAULT NULL
) RETURNS TEXT
LANGUAGE plpgsql
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

-- People who work the review desk (`credverify operator`, `credverify
-- console`). Passwords are argon2id PHC strings; a disabled operator keeps
-- their row so the event log's names stay meaningful.
CREATE TABLE credverify.operators (
    name           TEXT PRIMARY KEY,
    role           TEXT NOT NULL CHECK (role IN ('reviewer', 'admin')),
    password_hash  TEXT NOT NULL,
    created_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    disabled_at    TIMESTAMPTZ
);
