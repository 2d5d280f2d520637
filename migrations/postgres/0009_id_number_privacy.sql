-- The ID number, kept no further than a verdict needs (issue 12, point 9).
--
-- Before: digits 1–4 and 15–18 in id_number_masked, 7–14 in birth_date, and a
-- SHA-256 salted with a value stored in credverify.settings: a copy of the
-- database gave back every full number in microseconds (100 guesses for
-- digits 5–6, each checked against the hash).
--
-- Now:
--  * id_number_masked keeps the last two characters only, and so does a
--    typed, read or reported 证件号码 (claimed, ocr, authoritative);
--  * birth_date and gender stay: the verdict compares them with the report;
--  * id_number_hash is an HMAC-SHA256 under a key the workers hold
--    (--id-hmac-key-file) and the database never sees. The salt is gone;
--  * the intake cannot compute that HMAC, so a full number submitted here
--    waits in id_number_pending until a worker seals the record (computes the
--    HMAC and clears the column, before anything else happens to it);
--  * the idempotency digest takes from the number only what is stored in
--    clear anyway (birth date, gender, mask), so it confirms no guess.
--
-- Records from before: their salted hashes would still confirm guesses with
-- a backup's salt, so they are dropped with the salt, the masks cut to the
-- last two characters, and their digests (which held the salted hash)
-- cleared: an idempotency key of theirs is taken at its word.

ALTER TABLE credverify.records ADD COLUMN id_number_pending TEXT;

UPDATE credverify.records
SET id_number_masked = repeat('*', 16) || right(id_number_masked, 2),
    id_number_hash = NULL,
    submission_digest = NULL
WHERE id_number_masked IS NOT NULL OR id_number_hash IS NOT NULL;

UPDATE credverify.records
SET claimed = jsonb_set(claimed, '{id_number_masked}',
        to_jsonb(repeat('*', 16) || right(claimed->>'id_number_masked', 2))),
    submission_digest = NULL
WHERE jsonb_typeof(claimed->'id_number_masked') = 'string';
UPDATE credverify.records
SET ocr = jsonb_set(ocr, '{fields,id_number_masked}',
        to_jsonb(repeat('*', 16) || right(ocr#>>'{fields,id_number_masked}', 2)))
WHERE jsonb_typeof(ocr#>'{fields,id_number_masked}') = 'string';
UPDATE credverify.records
SET authoritative = jsonb_set(authoritative, '{fields,id_number_masked}',
        to_jsonb(repeat('*', 16) || right(authoritative#>>'{fields,id_number_masked}', 2)))
WHERE jsonb_typeof(authoritative#>'{fields,id_number_masked}') = 'string';

DROP TABLE credverify.settings;

-- Records a worker has yet to seal (normally none for long).
CREATE INDEX records_id_pending ON credverify.records(id) WHERE id_number_pending IS NOT NULL;

CREATE OR REPLACE FUNCTION credverify.submit(
    p_candidate_id     TEXT,
    p_name             TEXT,
    p_fields           JSONB DEFAULT '{}',
    p_id_number        TEXT DEFAULT NULL,
    p_idempotency_key  TEXT DEFAULT NULL,
    p_screenshot       BYTEA DEFAULT NULL,
    p_screenshot_ref   TEXT DEFAULT NULL
) RETURNS TABLE (record_id BIGINT, created BOOLEAN)
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_candidate TEXT := btrim(p_candidate_id, E' \t\r\n');
    v_name     TEXT := btrim(p_name, E' \t\r\n');
    v_id       BIGINT;
    v_job      TEXT;
    v_key      TEXT;
    v_digits   TEXT;
    v_birth    DATE;
    v_gender   TEXT;
    v_pending  TEXT;
    v_masked   TEXT;
    v_sum      INTEGER := 0;
    v_weights  INTEGER[] := ARRAY[7,9,10,5,8,4,2,1,6,3,7,9,10,5,8,4,2];
    v_kind     TEXT;
    v_fields   JSONB := '{}'::jsonb;
    v_digest   TEXT;
    v_old      TEXT;
BEGIN
    IF v_candidate IS NULL OR v_candidate = '' THEN
        RAISE EXCEPTION 'field `candidate_id`: must not be empty' USING ERRCODE = 'CV002';
    END IF;
    IF char_length(v_candidate) > 128 OR v_candidate ~ '[[:cntrl:]]' THEN
        RAISE EXCEPTION 'field `candidate_id`: at most 128 characters, no control characters' USING ERRCODE = 'CV002';
    END IF;
    IF v_name IS NULL OR v_name = '' THEN
        RAISE EXCEPTION 'field `name`: must not be empty' USING ERRCODE = 'CV002';
    END IF;
    IF char_length(v_name) > 100 OR v_name ~ '[\x01-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]' THEN
        RAISE EXCEPTION 'field `name`: at most 100 characters, no control characters' USING ERRCODE = 'CV002';
    END IF;
    IF p_idempotency_key IS NOT NULL AND (p_idempotency_key = '' OR char_length(p_idempotency_key) > 128
            OR p_idempotency_key ~ '[[:cntrl:]]') THEN
        RAISE EXCEPTION 'field `idempotency_key`: 1 to 128 characters, no control characters' USING ERRCODE = 'CV002';
    END IF;
    IF p_screenshot_ref IS NOT NULL AND (p_screenshot_ref = '' OR char_length(p_screenshot_ref) > 1024
            OR p_screenshot_ref ~ '[[:cntrl:]]') THEN
        RAISE EXCEPTION 'field `screenshot_ref`: 1 to 1024 characters, no control characters' USING ERRCODE = 'CV002';
    END IF;
    IF p_screenshot IS NOT NULL AND length(p_screenshot) > 20971520 THEN
        RAISE EXCEPTION 'field `screenshot`: % bytes; the limit is 20971520 (20 MiB)', length(p_screenshot)
            USING ERRCODE = 'CV002';
    END IF;
    IF p_fields IS NOT NULL AND jsonb_typeof(p_fields) <> 'object' THEN
        RAISE EXCEPTION 'field `fields`: must be a JSON object of canonical keys' USING ERRCODE = 'CV002';
    END IF;
    IF p_fields IS NOT NULL AND octet_length(p_fields::text) > 16384 THEN
        RAISE EXCEPTION 'field `fields`: larger than 16 KiB' USING ERRCODE = 'CV002';
    END IF;
    IF p_fields ? 'kind' THEN
        IF jsonb_typeof(p_fields->'kind') IS DISTINCT FROM 'string'
           OR (p_fields->>'kind') NOT IN ('diploma', 'degree') THEN
            RAISE EXCEPTION 'field `kind`: must be "diploma" or "degree"' USING ERRCODE = 'CV002';
        END IF;
        v_kind := p_fields->>'kind';
        v_fields := jsonb_build_object('kind', v_kind);
    END IF;
    FOR v_key IN SELECT k FROM jsonb_object_keys(coalesce(p_fields, '{}'::jsonb)) AS k ORDER BY k LOOP
        CONTINUE WHEN v_key = 'kind';
        IF v_key <> ALL (ARRAY[
                'name','gender','birth_date','enrollment_date','graduation_date','school','major','duration','level','category','study_mode','completion',
                'certificate_no','principal','vcode','id_number_masked','degree_date','awarding_unit','degree','discipline','department','class_name','student_no','enrollment_status','expected_graduation_date']) THEN
            RAISE EXCEPTION 'field `%`: unknown key', left(v_key, 64) USING ERRCODE = 'CV002';
        END IF;
        v_fields := v_fields || jsonb_build_object(v_key, credverify.typed_value(v_key, p_fields->v_key));
    END LOOP;
    -- A 证件号码 in the service's mask beside a birth date leaves only digits
    -- 5-6 to guess, and no verdict compares it: its last two characters stay.
    IF v_fields ? 'id_number_masked' THEN
        v_fields := jsonb_set(v_fields, '{id_number_masked}',
            to_jsonb(repeat('*', 16) || right(v_fields->>'id_number_masked', 2)));
    END IF;
    IF p_screenshot IS NOT NULL AND p_screenshot_ref IS NOT NULL THEN
        RAISE EXCEPTION 'pass the screenshot bytes or a reference to them, not both' USING ERRCODE = 'CV002';
    END IF;
    IF p_screenshot IS NULL AND p_screenshot_ref IS NULL AND NOT v_fields ? 'vcode' THEN
        RAISE EXCEPTION 'field `vcode`: a record needs a screenshot or an 在线验证码' USING ERRCODE = 'CV002';
    END IF;

    IF p_id_number IS NOT NULL THEN
        v_digits := upper(regexp_replace(p_id_number, '[ \t]', '', 'g'));
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
        -- Kept only until a worker seals the record (HMAC under its key).
        v_pending := v_digits;
        v_masked := repeat('*', 16) || substr(v_digits, 17, 2);
    END IF;

    v_digest := encode(sha256(convert_to(jsonb_build_object(
        'candidate_id', v_candidate, 'name', v_name,
        'id_number', CASE WHEN v_digits IS NULL THEN NULL ELSE jsonb_build_object(
            'birth_date', to_char(v_birth, 'YYYY-MM-DD'), 'gender', v_gender, 'masked', v_masked) END,
        'fields', v_fields,
        'screenshot', encode(sha256(p_screenshot), 'hex'), 'screenshot_ref', p_screenshot_ref)::text, 'UTF8')), 'hex');

    INSERT INTO credverify.candidates (id) VALUES (v_candidate) ON CONFLICT DO NOTHING;
    -- Serialises this candidate's submissions: the key check below and the
    -- five-record count see every earlier one.
    PERFORM 1 FROM credverify.candidates WHERE id = v_candidate FOR UPDATE;

    IF p_idempotency_key IS NOT NULL THEN
        SELECT r.id, r.submission_digest INTO v_id, v_old FROM credverify.records r
        WHERE r.candidate_id = v_candidate AND r.idempotency_key = p_idempotency_key;
        IF FOUND THEN
            IF v_old IS NOT NULL AND v_old <> v_digest THEN
                RAISE EXCEPTION 'idempotency key `%` was used for a different submission (record %)',
                    left(p_idempotency_key, 128), v_id USING ERRCODE = 'CV003';
            END IF;
            record_id := v_id;
            created := false;
            RETURN NEXT;
            RETURN;
        END IF;
    END IF;

    INSERT INTO credverify.records (candidate_id, candidate_name, birth_date, gender, id_number_pending,
        id_number_masked, kind, claimed, has_screenshot, screenshot_ref, idempotency_key, submission_digest)
    VALUES (v_candidate, v_name, to_char(v_birth, 'YYYY-MM-DD'), v_gender, v_pending,
        v_masked, v_kind, v_fields, p_screenshot IS NOT NULL, p_screenshot_ref, p_idempotency_key, v_digest)
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
    record_id := v_id;
    created := true;
    RETURN NEXT;
END;
$$;

