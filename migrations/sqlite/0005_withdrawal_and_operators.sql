-- Withdrawal (DESIGN §3): a candidate may take back a record that is still
-- unverified; it becomes `withdrawn` and no longer counts toward the
-- five-record limit. A withdrawn record stays (with its events), and stays
-- withdrawn.
--
-- SQLite cannot alter a CHECK constraint, and rebuilding `records` would drop
-- whatever columns other migrations add to it. The constraint's text is
-- widened in place instead: SQLite's documented procedure for schema changes
-- that leave the stored format alone (sqlite.org/lang_altertable.html,
-- "Making Other Kinds Of Table Schema Changes"). RESET reloads the schema.
PRAGMA writable_schema = ON;
UPDATE sqlite_schema
SET sql = replace(sql, '''needs_review'')', '''needs_review'', ''withdrawn'')')
WHERE type = 'table' AND name = 'records' AND sql NOT LIKE '%''withdrawn''%';
PRAGMA writable_schema = RESET;
-- Fail here, loudly, if the constraint's text was not the one expected (the
-- first withdrawal would fail otherwise).
CREATE TABLE migration_0005_check (widened INTEGER NOT NULL CHECK (widened = 1));
INSERT INTO migration_0005_check
SELECT COUNT(*) FROM sqlite_schema
WHERE type = 'table' AND name = 'records' AND sql LIKE '%''needs_review'', ''withdrawn''%';
DROP TABLE migration_0005_check;

DROP TRIGGER five_records_per_candidate;
CREATE TRIGGER five_records_per_candidate BEFORE INSERT ON records
WHEN (SELECT COUNT(*) FROM records
      WHERE candidate_id = NEW.candidate_id AND status <> 'withdrawn') >= 5
BEGIN
    SELECT RAISE(ABORT, 'record limit reached: a candidate holds at most 5 records');
END;

-- Re-opening a withdrawn record would hand the candidate a sixth place.
CREATE TRIGGER withdrawn_records_stay_withdrawn BEFORE UPDATE OF status ON records
WHEN OLD.status = 'withdrawn' AND NEW.status <> 'withdrawn'
BEGIN
    SELECT RAISE(ABORT, 'a withdrawn record stays withdrawn');
END;

-- People who work the review desk (`credverify operator`, `credverify
-- console`). Passwords are argon2id PHC strings; a disabled operator keeps
-- their row so the event log's names stay meaningful.
CREATE TABLE operators (
    name           TEXT PRIMARY KEY,
    role           TEXT NOT NULL CHECK (role IN ('reviewer', 'admin')),
    password_hash  TEXT NOT NULL,
    created_at     TEXT NOT NULL,
    disabled_at    TEXT
);
