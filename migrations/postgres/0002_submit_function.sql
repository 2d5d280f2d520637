-- credverify.submit_record: the one statement any backend (Java, Python, Go,
-- psql) uses to hand a record to credverify, inside its own transaction. It
-- validates what SQL can, enforces the five-record limit and the idempotency
-- key, inserts the record, its screenshot, its apalis job and the first event.
-- The Rust intake calls it too, so there is one implementation on PostgreSQL.
--
-- The screenshot comes as bytes (p_screenshot) or as a reference the worker
-- fetches (p_screenshot_ref: a path under the worker's uploads root, or a URL
-- under an allowed prefix).
--
-- Errors: SQLSTATE CV001 = record limit reached, CV002 = invalid input (the
-- message names the field).

CREATE FUNCTION credverify.submit_record(
    p_candidate_id     TEXT,
    p_name             TEXT,
    p_fields           JSONB DEFAULT '{}',
    p_id_number        TEXT DEFAULT NULL,
    p_idempotency_key  TEXT DEFAULT NULL,
    p_screenshot       BYTEA DEFAULT NULL,
    p_screenshot_ref   TEXT DEFAULT NULL
) RETURNS BIGINT
LANGUAGE plpgsql
AS $$
DECLARE
    v_id       BIGINT;
    v_job      TEXT;
    v_key      TEXT;
    v_digits   TEXT;
    v_birth    DATE;
    v_gender   TEXT;
    v_hash     TEXT;
    v_masked   TEXT;
    v_sum      INTEGER := 0;
    v_weights  INTEGER[] := ARRAY[7,9,10,5,8,4,2,1,6,3,7,9,10,5,8,4,2];
    v_vcode    TEXT;
    v_fields   JSONB := coalesce(p_fields, '{}'::jsonb);
BEGIN
    IF p_candidate_id IS NULL OR btrim(p_candidate_id) = '' THEN
        RAISE EXCEPTION 'candidate_id must not be empty' USING ERRCODE = 'CV002';
    END IF;
    IF p_name IS NULL OR btrim(p_name) = '' THEN
        RAISE EXCEPTION 'field `name`: must not be empty' USING ERRCODE = 'CV002';
    END IF;
    IF jsonb_typeof(v_fields) <> 'object' THEN
        RAISE EXCEPTION 'fields must be a JSON object of canonical keys' USING ERRCODE = 'CV002';
    END IF;
    FOR v_key IN SELECT jsonb_object_keys(v_fields) LOOP
        IF v_key <> ALL (ARRAY['kind','name','gender','birth_date','enrollment_date','graduation_date',
                'school','major','duration','level','category','study_mode','completion','certificate_no',
                'principal','vcode','id_number_masked','degree_date','awarding_unit','degree','discipline']) THEN
            RAISE EXCEPTION 'field `%`: unknown key', v_key USING ERRCODE = 'CV002';
        END IF;
    END LOOP;
    IF v_fields ? 'kind' AND (v_fields->>'kind') NOT IN ('diploma', 'degree') THEN
        RAISE EXCEPTION 'field `kind`: must be "diploma" or "degree"' USING ERRCODE = 'CV002';
    END IF;
    IF v_fields ? 'vcode' THEN
        v_vcode := upper(regexp_replace(v_fields->>'vcode', '[\s-]', '', 'g'));
        IF v_vcode !~ '^([0-9A-Z]{16}|[0-9]{12})$' THEN
            RAISE EXCEPTION 'field `vcode`: must be 16 letters/digits (or 12 digits)' USING ERRCODE = 'CV002';
        END IF;
        v_fields := jsonb_set(v_fields, '{vcode}', to_jsonb(v_vcode));
    END IF;
    IF p_screenshot IS NOT NULL AND p_screenshot_ref IS NOT NULL THEN
        RAISE EXCEPTION 'pass the screenshot bytes or a reference to them, not both' USING ERRCODE = 'CV002';
    END IF;
    IF p_screenshot IS NULL AND p_screenshot_ref IS NULL AND v_vcode IS NULL THEN
        RAISE EXCEPTION 'field `vcode`: a record needs a screenshot or an 在线验证码' USING ERRCODE = 'CV002';
    END IF;

    IF p_id_number IS NOT NULL THEN
        v_digits := upper(regexp_replace(p_id_number, '\s', '', 'g'));
        IF v_digits !~ '^[0-9]{17}[0-9X]$' THEN
            RAISE EXCEPTION 'id_number: must be 18 characters (digits, last may be X)' USING ERRCODE = 'CV002';
        END IF;
        FOR i IN 1..17 LOOP
            v_sum := v_sum + substr(v_digits, i, 1)::int * v_weights[i];
        END LOOP;
        IF substr('10X98765432', v_sum % 11 + 1, 1) <> substr(v_digits, 18, 1) THEN
            RAISE EXCEPTION 'id_number: check digit is wrong' USING ERRCODE = 'CV002';
        END IF;
        BEGIN
            v_birth := to_date(substr(v_digits, 7, 8), 'YYYYMMDD');
        EXCEPTION WHEN OTHERS THEN
            RAISE EXCEPTION 'id_number: holds no valid birth date' USING ERRCODE = 'CV002';
        END;
        IF to_char(v_birth, 'YYYYMMDD') <> substr(v_digits, 7, 8) THEN
            RAISE EXCEPTION 'id_number: holds no valid birth date' USING ERRCODE = 'CV002';
        END IF;
        v_gender := CASE WHEN substr(v_digits, 17, 1)::int % 2 = 1 THEN '男' ELSE '女' END;
        v_hash := encode(sha256(convert_to(
            (SELECT value FROM credverify.settings WHERE key = 'id_number_salt') || ':' || v_digits, 'UTF8')), 'hex');
        v_masked := substr(v_digits, 1, 4) || '**********' || substr(v_digits, 15, 4);
    END IF;

    INSERT INTO credverify.candidates (id) VALUES (p_candidate_id) ON CONFLICT DO NOTHING;
    PERFORM 1 FROM credverify.candidates WHERE id = p_candidate_id FOR UPDATE;

    IF p_idempotency_key IS NOT NULL THEN
        SELECT id INTO v_id FROM credverify.records
        WHERE candidate_id = p_candidate_id AND idempotency_key = p_idempotency_key;
        IF FOUND THEN
            RETURN v_id;
        END IF;
    END IF;

    INSERT INTO credverify.records (candidate_id, candidate_name, birth_date, gender, id_number_hash,
        id_number_masked, kind, claimed, has_screenshot, screenshot_ref, idempotency_key)
    VALUES (p_candidate_id, btrim(p_name), to_char(v_birth, 'YYYY-MM-DD'), v_gender, v_hash,
        v_masked, v_fields->>'kind', v_fields, p_screenshot IS NOT NULL, p_screenshot_ref, p_idempotency_key)
    RETURNING id INTO v_id;

    IF p_screenshot IS NOT NULL THEN
        INSERT INTO credverify.screenshots (record_id, bytes, sha256, size)
        VALUES (v_id, p_screenshot, encode(sha256(p_screenshot), 'hex'), length(p_screenshot));
    END IF;

    v_job := apalis.generate_ulid();
    INSERT INTO apalis.jobs (id, job_type, job, status, attempts, max_attempts, run_at, priority)
    VALUES (v_job, 'credverify', convert_to(jsonb_build_object('record_id', v_id)::text, 'UTF8'),
        'Pending', 0, 3, now(), 0);
    UPDATE credverify.records SET job_id = v_job WHERE id = v_id;

    INSERT INTO credverify.record_events (record_id, actor, from_status, to_status)
    VALUES (v_id, 'submit', NULL, 'unverified');
    RETURN v_id;
END;
$$;
