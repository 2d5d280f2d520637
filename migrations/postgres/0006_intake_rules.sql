-- One intake, one set of rules; idempotency that tells the truth; intake
-- that runs with its owner's rights.
--
-- credverify.submit_record used to accept what `credverify submit` and
-- jobs/schema refuse (non-string values, impossible dates, codes upper-cased
-- from non-ASCII letters, unbounded lengths). Every value is now checked
-- against the documented shape (jobs/schema/fields.schema.json) and the caps
-- listed in jobs/README.md, and a refusal names the field (SQLSTATE CV002).
--
-- An idempotency key is stored with a digest of what was submitted: the same
-- key with other content is refused (SQLSTATE CV003) instead of silently
-- answering with the earlier record. credverify.submit returns whether the
-- record was created, decided under the candidate's row lock so parallel
-- submissions with one key agree.

ALTER TABLE credverify.records ADD COLUMN submission_digest TEXT;

-- The canonical form of one typed value, or CV002 naming the field.
CREATE FUNCTION credverify.typed_value(p_key TEXT, p_value JSONB)
RETURNS TEXT
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v TEXT;
    v_parts TEXT[];
    v_date DATE;
    v_num NUMERIC;
BEGIN
    IF p_value IS NULL OR jsonb_typeof(p_value) <> 'string' THEN
        RAISE EXCEPTION 'field `%`: must be a string, got %', p_key, coalesce(jsonb_typeof(p_value), 'nothing')
            USING ERRCODE = 'CV002';
    END IF;
    v := btrim(p_value #>> '{}', E' \t\r\n');
    IF v = '' THEN
        RAISE EXCEPTION 'field `%`: must not be empty', p_key USING ERRCODE = 'CV002';
    END IF;
    IF char_length(v) > 200 THEN
        RAISE EXCEPTION 'field `%`: longer than 200 characters', p_key USING ERRCODE = 'CV002';
    END IF;
    IF v ~ '[\x01-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]' THEN
        RAISE EXCEPTION 'field `%`: contains control characters', p_key USING ERRCODE = 'CV002';
    END IF;
    IF p_key IN ('birth_date', 'enrollment_date', 'graduation_date', 'degree_date', 'expected_graduation_date') THEN
        v_parts := regexp_match(v, '^([0-9]{4})(?:-([0-9]{1,2})-([0-9]{1,2})|年([0-9]{1,2})月([0-9]{1,2})日)$');
        IF v_parts IS NULL THEN
            RAISE EXCEPTION 'field `%`: not a date; use YYYY-MM-DD or 2021年06月30日', p_key USING ERRCODE = 'CV002';
        END IF;
        BEGIN
            v_date := make_date(v_parts[1]::int, coalesce(v_parts[2], v_parts[4])::int,
                                coalesce(v_parts[3], v_parts[5])::int);
        EXCEPTION WHEN OTHERS THEN
            RAISE EXCEPTION 'field `%`: not a date; use YYYY-MM-DD or 2021年06月30日', p_key USING ERRCODE = 'CV002';
        END;
        IF v_parts[1]::int < 1 THEN
            RAISE EXCEPTION 'field `%`: not a date; use YYYY-MM-DD or 2021年06月30日', p_key USING ERRCODE = 'CV002';
        END IF;
        RETURN to_char(v_date, 'YYYY-MM-DD');
    ELSIF p_key = 'gender' THEN
        IF v NOT IN ('男', '女') THEN
            RAISE EXCEPTION 'field `gender`: must be 男 or 女' USING ERRCODE = 'CV002';
        END IF;
    ELSIF p_key = 'completion' THEN
        IF v NOT IN ('毕业', '结业') THEN
            RAISE EXCEPTION 'field `completion`: must be 毕业 or 结业' USING ERRCODE = 'CV002';
        END IF;
    ELSIF p_key = 'duration' THEN
        v_parts := regexp_match(v, '^([0-9]{1,2}(?:\.[0-9]{1,2})?)[ ]*年?$');
        IF v_parts IS NULL THEN
            RAISE EXCEPTION 'field `duration`: 学制 must be a number of years, e.g. "4"' USING ERRCODE = 'CV002';
        END IF;
        v_num := v_parts[1]::numeric;
        IF v_num <= 0 OR v_num > 12 THEN
            RAISE EXCEPTION 'field `duration`: 学制 must be between 0 and 12 years' USING ERRCODE = 'CV002';
        END IF;
        RETURN v_parts[1];
    ELSIF p_key = 'certificate_no' THEN
        IF v !~ '^[0-9A-Za-z ]{16,22}$' THEN
            RAISE EXCEPTION 'field `certificate_no`: must be 18 digits (学历) or 16 characters (学位)' USING ERRCODE = 'CV002';
        END IF;
        v := upper(replace(v, ' ', ''));
        IF v !~ '^([0-9]{17,18}|[0-9A-Z]{16})$' THEN
            RAISE EXCEPTION 'field `certificate_no`: must be 18 digits (学历) or 16 characters (学位)' USING ERRCODE = 'CV002';
        END IF;
    ELSIF p_key = 'vcode' THEN
        -- ASCII only before upper-casing: upper('ſ') is 'S' in some locales.
        IF v !~ '^(([0-9A-Za-z][ -]?){15}[0-9A-Za-z]|[0-9]{12})$' THEN
            RAISE EXCEPTION 'field `vcode`: must be 16 letters/digits (or 12 digits)' USING ERRCODE = 'CV002';
        END IF;
        v := upper(translate(v, ' -', ''));
    ELSIF p_key = 'student_no' THEN
        v := upper(regexp_replace(v, '[^0-9A-Za-z]', '', 'g'));
        IF v = '' THEN
            RAISE EXCEPTION 'field `student_no`: must not be empty' USING ERRCODE = 'CV002';
        END IF;
    ELSIF p_key = 'id_number_masked' THEN
        IF v !~ '^[0-9]{4}\*{10}[0-9]{3}[0-9Xx]$' THEN
            RAISE EXCEPTION 'field `id_number_masked`: must be 4 digits, 10 *, 4 digits' USING ERRCODE = 'CV002';
        END IF;
        v := upper(v);
    END IF;
    RETURN v;
END;
$$;

-- The intake itself. Returns the record and whether this call created it.
CREATE FUNCTION credverify.submit(
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
    v_hash     TEXT;
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
        v_hash := encode(sha256(convert_to(
            (SELECT value FROM credverify.settings WHERE key = 'id_number_salt') || ':' || v_digits, 'UTF8')), 'hex');
        v_masked := substr(v_digits, 1, 4) || '**********' || substr(v_digits, 15, 4);
    END IF;

    v_digest := encode(sha256(convert_to(jsonb_build_object(
        'candidate_id', v_candidate, 'name', v_name, 'id_number_hash', v_hash, 'fields', v_fields,
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

    INSERT INTO credverify.records (candidate_id, candidate_name, birth_date, gender, id_number_hash,
        id_number_masked, kind, claimed, has_screenshot, screenshot_ref, idempotency_key, submission_digest)
    VALUES (v_candidate, v_name, to_char(v_birth, 'YYYY-MM-DD'), v_gender, v_hash,
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

-- The documented entry point keeps its signature and answer (the record id).
CREATE OR REPLACE FUNCTION credverify.submit_record(
    p_candidate_id     TEXT,
    p_name             TEXT,
    p_fields           JSONB DEFAULT '{}',
    p_id_number        TEXT DEFAULT NULL,
    p_idempotency_key  TEXT DEFAULT NULL,
    p_screenshot       BYTEA DEFAULT NULL,
    p_screenshot_ref   TEXT DEFAULT NULL
) RETURNS BIGINT
LANGUAGE sql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT s.record_id FROM credverify.submit(p_candidate_id, p_name, p_fields, p_id_number,
        p_idempotency_key, p_screenshot, p_screenshot_ref) AS s;
$$;

-- Least privilege. Intake runs with its owner's rights (SECURITY DEFINER
-- above, with a fixed search_path), so a backend role needs no table rights
-- at all: EXECUTE on the intake functions through USAGE on the schema.
-- Deciding is the worker's alone.
REVOKE EXECUTE ON FUNCTION credverify.decide(BIGINT, TEXT, TEXT, TEXT, TEXT, JSONB, JSONB, JSONB, TEXT, TEXT, TIMESTAMPTZ)
    FROM PUBLIC;
REVOKE TRUNCATE ON ALL TABLES IN SCHEMA credverify FROM PUBLIC;

-- A record belongs to its candidate for good: the five-record limit and
-- every notification depend on it.
CREATE FUNCTION credverify.keep_candidate() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NEW.candidate_id IS DISTINCT FROM OLD.candidate_id THEN
        RAISE EXCEPTION 'a record''s candidate_id cannot change' USING ERRCODE = 'P0001';
    END IF;
    RETURN NEW;
END;
$$;

CREATE TRIGGER candidate_id_is_immutable
BEFORE UPDATE OF candidate_id ON credverify.records
FOR EACH ROW EXECUTE FUNCTION credverify.keep_candidate();
