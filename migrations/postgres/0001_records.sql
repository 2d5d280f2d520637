-- Records, their append-only event log, and what the five-record limit and
-- idempotent submission need. Lives in schema credverify; apalis keeps its
-- own schema.

CREATE SCHEMA IF NOT EXISTS credverify;

CREATE TABLE credverify.candidates (
    id          TEXT PRIMARY KEY,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE credverify.records (
    id                  BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    candidate_id        TEXT NOT NULL REFERENCES credverify.candidates(id),
    candidate_name      TEXT NOT NULL,
    birth_date          TEXT,
    gender              TEXT,
    id_number_hash      TEXT,
    id_number_masked    TEXT,
    kind                TEXT CHECK (kind IN ('diploma', 'degree')),
    status              TEXT NOT NULL DEFAULT 'unverified'
                        CHECK (status IN ('unverified', 'verified', 'rejected', 'needs_review')),
    claimed             JSONB NOT NULL DEFAULT '{}',
    ocr                 JSONB,
    has_screenshot      BOOLEAN NOT NULL DEFAULT false,
    screenshot_ref      TEXT,
    authoritative       JSONB,
    certificate_no      TEXT,
    reasons             JSONB NOT NULL DEFAULT '[]',
    field_diffs         JSONB NOT NULL DEFAULT '[]',
    idempotency_key     TEXT,
    attempts            INTEGER NOT NULL DEFAULT 0,
    last_error          TEXT,
    next_attempt_at     TIMESTAMPTZ,
    retries_exhausted   BOOLEAN NOT NULL DEFAULT false,
    job_id              TEXT,
    created_at          TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at          TIMESTAMPTZ NOT NULL DEFAULT now(),
    decided_at          TIMESTAMPTZ,
    UNIQUE (candidate_id, idempotency_key)
);

CREATE INDEX records_candidate ON credverify.records(candidate_id);
CREATE INDEX records_status ON credverify.records(status, updated_at);
CREATE INDEX records_certificate ON credverify.records(certificate_no) WHERE status = 'verified';

CREATE TABLE credverify.screenshots (
    record_id   BIGINT PRIMARY KEY REFERENCES credverify.records(id),
    bytes       BYTEA NOT NULL,
    sha256      TEXT NOT NULL,
    size        BIGINT NOT NULL
);

CREATE TABLE credverify.record_events (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    record_id    BIGINT NOT NULL REFERENCES credverify.records(id),
    at           TIMESTAMPTZ NOT NULL DEFAULT now(),
    actor        TEXT NOT NULL,
    from_status  TEXT,
    to_status    TEXT NOT NULL,
    reasons      JSONB NOT NULL DEFAULT '[]',
    note         TEXT
);

CREATE INDEX record_events_record ON credverify.record_events(record_id, id);

CREATE FUNCTION credverify.refuse() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '%', TG_ARGV[0] USING ERRCODE = 'P0001';
END;
$$;

CREATE TRIGGER record_events_append_only
BEFORE UPDATE OR DELETE ON credverify.record_events
FOR EACH ROW EXECUTE FUNCTION credverify.refuse('record_events is append-only');

CREATE TRIGGER verified_records_are_kept
BEFORE DELETE ON credverify.records
FOR EACH ROW WHEN (OLD.status = 'verified')
EXECUTE FUNCTION credverify.refuse('verified records cannot be deleted');

-- The five-record limit, for every writer. The candidate row is locked first,
-- so concurrent inserts for one candidate queue up and each counts the rows
-- the previous one committed (plpgsql takes a fresh snapshot per statement).
CREATE FUNCTION credverify.enforce_record_limit() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO credverify.candidates (id) VALUES (NEW.candidate_id) ON CONFLICT DO NOTHING;
    PERFORM 1 FROM credverify.candidates WHERE id = NEW.candidate_id FOR UPDATE;
    IF (SELECT count(*) FROM credverify.records WHERE candidate_id = NEW.candidate_id) >= 5 THEN
        RAISE EXCEPTION 'record limit reached: candidate % holds at most 5 records', NEW.candidate_id
            USING ERRCODE = 'CV001';
    END IF;
    RETURN NEW;
END;
$$;

CREATE TRIGGER five_records_per_candidate
BEFORE INSERT ON credverify.records
FOR EACH ROW EXECUTE FUNCTION credverify.enforce_record_limit();

-- Per-database secrets: the salt of the ID-number hash.
CREATE TABLE credverify.settings (
    key    TEXT PRIMARY KEY,
    value  TEXT NOT NULL
);
INSERT INTO credverify.settings (key, value)
VALUES ('id_number_salt', replace(gen_random_uuid()::text, '-', ''));
