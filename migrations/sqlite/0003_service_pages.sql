-- Answers of the verification service the client could not recognise: kept
-- (gzip, capped, the last few per record) so a person can see what came back
-- (`credverify page RECORD`), and counted per record so one whose answers keep
-- coming back unrecognised goes to a person (needs_review, page_unrecognised)
-- instead of retrying for ever.

CREATE TABLE service_pages (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    record_id    INTEGER NOT NULL REFERENCES records(id) ON DELETE CASCADE,
    fetched_at   TEXT NOT NULL,
    http_status  INTEGER NOT NULL,
    detail       TEXT NOT NULL,
    size         INTEGER NOT NULL,
    truncated    INTEGER NOT NULL DEFAULT 0,
    body_gz      BLOB NOT NULL
);

CREATE INDEX service_pages_by_record ON service_pages(record_id, id);

-- Unrecognised answers since the record last went to a person.
ALTER TABLE records ADD COLUMN unrecognised_answers INTEGER NOT NULL DEFAULT 0;
