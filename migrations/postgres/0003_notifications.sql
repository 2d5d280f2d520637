-- Status notifications for the registration backend, two ways:
--  * NOTIFY on channel `credverify_status` with a small JSON payload, sent at
--    commit of the transaction that changed the record (LISTEN and react);
--  * an outbox row in the same transaction, delivered by the worker's
--    webhook dispatcher at least once, so a crash never loses one.

CREATE TABLE credverify.outbox (
    id               BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    record_id        BIGINT NOT NULL,
    event_id         BIGINT NOT NULL UNIQUE,
    payload          JSONB NOT NULL,
    created_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    delivered_at     TIMESTAMPTZ,
    failed           BOOLEAN NOT NULL DEFAULT false,
    last_error       TEXT
);

CREATE INDEX outbox_due ON credverify.outbox(next_attempt_at) WHERE delivered_at IS NULL AND NOT failed;

CREATE FUNCTION credverify.announce_status() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    v_payload JSONB;
BEGIN
    IF NEW.from_status IS NOT DISTINCT FROM NEW.to_status THEN
        RETURN NEW;
    END IF;
    SELECT jsonb_build_object(
        'record_id', NEW.record_id,
        'candidate_id', r.candidate_id,
        'status', NEW.to_status,
        'previous_status', NEW.from_status,
        'reasons', COALESCE((SELECT jsonb_agg(x->>'code') FROM jsonb_array_elements(NEW.reasons) x), '[]'::jsonb),
        'event_id', NEW.id,
        'at', NEW.at)
    INTO v_payload
    FROM credverify.records r WHERE r.id = NEW.record_id;
    INSERT INTO credverify.outbox (record_id, event_id, payload, created_at, next_attempt_at)
    VALUES (NEW.record_id, NEW.id, v_payload, NEW.at, NEW.at);
    PERFORM pg_notify('credverify_status', v_payload::text);
    RETURN NEW;
END;
$$;

CREATE TRIGGER record_events_announce
AFTER INSERT ON credverify.record_events
FOR EACH ROW EXECUTE FUNCTION credverify.announce_status();
