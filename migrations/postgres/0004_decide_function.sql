-- credverify.decide: one record's status transition in one round trip.
-- The worker's decision used to be six statements (BEGIN, the certificate
-- lock, the duplicate check, the compare-and-set UPDATE, the event INSERT,
-- COMMIT); on PostgreSQL the per-statement overhead was most of a record's
-- cost. Same rules, same order, one call:
--   * becoming verified with a certificate number: serialise on that
--     certificate, and refuse when another candidate holds it verified;
--   * compare-and-set on the current status and the owning job;
--   * the event in the same transaction (its trigger writes the outbox row
--     and NOTIFYs).
-- Returns 'applied', 'duplicate_certificate', or 'stale:<current status>'
-- ('stale:' when the record is gone).

CREATE FUNCTION credverify.decide(
    p_record_id      BIGINT,
    p_from           TEXT,
    p_to             TEXT,
    p_job_id         TEXT,
    p_actor          TEXT,
    p_reasons        JSONB,
    p_field_diffs    JSONB,
    p_authoritative  JSONB,
    p_certificate    TEXT,
    p_note           TEXT,
    p_now            TIMESTAMPTZ
) RETURNS TEXT
LANGUAGE plpgsql AS $$
DECLARE
    v_decided BOOLEAN := p_to <> 'unverified';
    v_cert    TEXT := p_certificate;
    v_current TEXT;
BEGIN
    IF p_to = 'verified' THEN
        IF v_cert IS NULL THEN
            -- An admin approving: the certificate stored with the report.
            SELECT certificate_no INTO v_cert FROM credverify.records WHERE id = p_record_id;
        END IF;
        IF v_cert IS NOT NULL THEN
            PERFORM pg_advisory_xact_lock(hashtext('certificate:' || v_cert));
            IF EXISTS (
                SELECT 1 FROM credverify.records r JOIN credverify.records me ON me.id = p_record_id
                WHERE r.status = 'verified' AND r.certificate_no = v_cert
                  AND r.candidate_id <> me.candidate_id
            ) THEN
                RETURN 'duplicate_certificate';
            END IF;
        END IF;
    END IF;

    UPDATE credverify.records SET
        status = p_to,
        reasons = p_reasons,
        field_diffs = p_field_diffs,
        authoritative = COALESCE(p_authoritative, authoritative),
        certificate_no = COALESCE(p_certificate, certificate_no),
        decided_at = CASE WHEN v_decided THEN p_now ELSE NULL END,
        updated_at = p_now,
        attempts = CASE WHEN v_decided THEN attempts ELSE 0 END,
        last_error = CASE WHEN v_decided THEN last_error ELSE NULL END,
        next_attempt_at = NULL,
        retries_exhausted = false
    WHERE id = p_record_id AND status = p_from
      AND (p_job_id IS NULL OR job_id IS NULL OR job_id = p_job_id);
    IF NOT FOUND THEN
        SELECT status INTO v_current FROM credverify.records WHERE id = p_record_id;
        RETURN 'stale:' || COALESCE(v_current, '');
    END IF;

    INSERT INTO credverify.record_events (record_id, at, actor, from_status, to_status, reasons, note)
    VALUES (p_record_id, p_now, p_actor, p_from, p_to, p_reasons, p_note);
    RETURN 'applied';
END;
$$;
