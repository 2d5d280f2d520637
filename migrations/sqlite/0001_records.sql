-- Records, their append-only event log, and what the five-record limit and
-- idempotent submission need. Timestamps are RFC 3339 text in UTC.

CREATE TABLE candidates (
    id          TEXT PRIMARY KEY,
    created_at  TEXT NOT NULL
);

CREATE TABLE records (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    candidate_id        TEXT NOT NULL REFERENCES candidates(id),
    -- Identity as the backend registered it: only what verification needs.
    candidate_name      TEXT NOT NULL,
    birth_date          TEXT,
    gender              TEXT,
    id_number_hash      TEXT,
    id_number_masked    TEXT,
    kind                TEXT CHECK (kind IN ('diploma', 'degree')),
    status              TEXT NOT NULL DEFAULT 'unverified'
                        CHECK (status IN ('unverified', 'verified', 'rejected', 'needs_review')),
    -- Typed fields (JSON, canonical keys); OCR output is kept apart so a
    -- re-run can re-read the image with a newer reader.
    claimed             TEXT NOT NULL DEFAULT '{}',
    ocr                 TEXT,
    has_screenshot      INTEGER NOT NULL DEFAULT 0,
    -- Where a backend said the screenshot is (a path under the uploads root
    -- or a URL); fetched once into `screenshots`.
    screenshot_ref      TEXT,
    -- The service's report: what a verified record stands on.
    authoritative       TEXT,
    certificate_no      TEXT,
    reasons             TEXT NOT NULL DEFAULT '[]',
    field_diffs         TEXT NOT NULL DEFAULT '[]',
    idempotency_key     TEXT,
    -- Transient failures since the last decision; the retry schedule.
    attempts            INTEGER NOT NULL DEFAULT 0,
    last_error          TEXT,
    next_attempt_at     TEXT,
    retries_exhausted   INTEGER NOT NULL DEFAULT 0,
    -- The job that currently owns the record; older jobs for it are stale.
    job_id              TEXT,
    created_at          TEXT NOT NULL,
    updated_at          TEXT NOT NULL,
    decided_at          TEXT,
    UNIQUE (candidate_id, idempotency_key)
);

CREATE INDEX records_candidate ON records(candidate_id);
CREATE INDEX records_status ON records(status, updated_at);
CREATE INDEX records_certificate ON records(certificate_no) WHERE status = 'verified';

CREATE TABLE screenshots (
    record_id   INTEGER PRIMARY KEY REFERENCES records(id),
    bytes       BLOB NOT NULL,
    sha256      TEXT NOT NULL,
    size        INTEGER NOT NULL
);

CREATE TABLE record_events (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    record_id    INTEGER NOT NULL REFERENCES records(id),
    at           TEXT NOT NULL,
    actor        TEXT NOT NULL,
    from_status  TEXT,
    to_status    TEXT NOT NULL,
    reasons      TEXT NOT NULL DEFAULT '[]',
    note         TEXT
);

CREATE INDEX record_events_record ON record_events(record_id, id);

CREATE TRIGGER record_events_append_only_update BEFORE UPDATE ON record_events
BEGIN
    SELECT RAISE(ABORT, 'record_events is append-only');
END;

CREATE TRIGGER record_events_append_only_delete BEFORE DELETE ON record_events
BEGIN
    SELECT RAISE(ABORT, 'record_events is append-only');
END;

CREATE TRIGGER verified_records_are_kept BEFORE DELETE ON records
WHEN OLD.status = 'verified'
BEGIN
    SELECT RAISE(ABORT, 'verified records cannot be deleted');
END;

-- The limit also holds for writers that bypass the library: SQLite runs one
-- writer at a time, so this check cannot race.
CREATE TRIGGER five_records_per_candidate BEFORE INSERT ON records
WHEN (SELECT COUNT(*) FROM records WHERE candidate_id = NEW.candidate_id) >= 5
BEGIN
    SELECT RAISE(ABORT, 'record limit reached: a candidate holds at most 5 records');
END;

-- Per-database secrets: the salt of the ID-number hash.
CREATE TABLE settings (
    key    TEXT PRIMARY KEY,
    value  TEXT NOT NULL
);
INSERT INTO settings (key, value) VALUES ('id_number_salt', lower(hex(randomblob(16))));
