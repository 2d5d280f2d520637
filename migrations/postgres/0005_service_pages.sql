-- Answers of the verification service the client could not recognise: kept
-- (gzip, capped, the last few per record) so a person can see what came back
-- (`credverify page RECORD`), and counted per record so one whose answers keep
-- coming back unrecognised goes to a person (needs_review, page_unrecognised)
-- instead of retrying for ever.

CREATE TABLE credverify.service_pages (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    record_id    BIGINT NOT NULL REFERENCES credverify.records(id) ON DELETE CASCADE,
    fetched_at   TIMESTAMPTZ NOT NULL,
    http_status  INTEGER NOT NULL,
    detail       TEXT NOT NULL,
    size         BIGINT NOT NULL,
    truncated    BOOLEAN NOT NULL DEFAULT false,
    body_gz      BYTEA NOT NULL
);

CREATE INDEX service_pages_by_record ON credverify.service_pages(record_id, id);

-- Unrecognised answers since the record last went to a person.
ALTER TABLE credverify.records ADD COLUMN unrecognised_answers INTEGER NOT NULL DEFAULT 0;
