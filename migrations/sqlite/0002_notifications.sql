-- Status notifications for the registration backend: every event (which
-- every status change writes) also lands in an outbox in the same
-- transaction, so a crash can never lose a notification. The worker's
-- webhook dispatcher delivers outbox rows at least once.

CREATE TABLE outbox (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    record_id        INTEGER NOT NULL,
    event_id         INTEGER NOT NULL UNIQUE,
    payload          TEXT NOT NULL,
    created_at       TEXT NOT NULL,
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  TEXT NOT NULL,
    delivered_at     TEXT,
    failed           INTEGER NOT NULL DEFAULT 0,
    last_error       TEXT
);

CREATE INDEX outbox_due ON outbox(next_attempt_at) WHERE delivered_at IS NULL AND failed = 0;

CREATE TRIGGER record_events_to_outbox AFTER INSERT ON record_events
WHEN NEW.from_status IS NOT NEW.to_status
BEGIN
    INSERT INTO outbox (record_id, event_id, payload, created_at, next_attempt_at)
    SELECT NEW.record_id, NEW.id,
        json_object(
            'record_id', NEW.record_id,
            'candidate_id', r.candidate_id,
            'status', NEW.to_status,
            'previous_status', NEW.from_status,
            'reasons', (SELECT json_group_array(json_extract(value, '$.code')) FROM json_each(NEW.reasons)),
            'event_id', NEW.id,
            'at', NEW.at),
        NEW.at, NEW.at
    FROM records r WHERE r.id = NEW.record_id;
END;
