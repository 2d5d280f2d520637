-- Records by status, kept by triggers so that a /metrics scrape reads four
-- rows instead of counting every record. (The request budget of a SQLite
-- deployment is per process: one host, one worker.)
CREATE TABLE record_status_counts (
    status TEXT PRIMARY KEY,
    n      INTEGER NOT NULL
);
INSERT INTO record_status_counts (status, n)
    SELECT s.status, (SELECT COUNT(*) FROM records r WHERE r.status = s.status)
    FROM (SELECT 'unverified' AS status UNION ALL SELECT 'verified'
          UNION ALL SELECT 'rejected' UNION ALL SELECT 'needs_review') s;

CREATE TRIGGER records_count_insert AFTER INSERT ON records
BEGIN
    INSERT INTO record_status_counts (status, n) VALUES (NEW.status, 1)
        ON CONFLICT (status) DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER records_count_delete AFTER DELETE ON records
BEGIN
    UPDATE record_status_counts SET n = n - 1 WHERE status = OLD.status;
END;

CREATE TRIGGER records_count_status_change AFTER UPDATE OF status ON records
WHEN OLD.status IS NOT NEW.status
BEGIN
    UPDATE record_status_counts SET n = n - 1 WHERE status = OLD.status;
    INSERT INTO record_status_counts (status, n) VALUES (NEW.status, 1)
        ON CONFLICT (status) DO UPDATE SET n = n + 1;
END;

-- Jobs queued or running, for the queue-depth gauge: apalis keeps finished
-- jobs, and without this the gauge would scan every job ever run.
CREATE INDEX IF NOT EXISTS credverify_live_jobs ON Jobs (job_type)
    WHERE status IN ('Pending', 'Queued', 'Running');

-- Unverified records whose retries are spent, for the gauge admins alert on:
-- counted from this index alone, however many records are decided.
CREATE INDEX records_retries_exhausted ON records(id)
    WHERE status = 'unverified' AND retries_exhausted;
