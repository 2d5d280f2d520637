-- Cluster-wide pieces for many workers on many hosts sharing this database.
--
-- credverify.chsi_budget: one token bucket for every worker of the cluster.
-- `--chsi-rate` is the budget of the whole cluster, not of each process: a
-- worker takes one token per request to the verification service with one
-- call to credverify.chsi_take, and a push back from the service (captcha,
-- 429, 5xx) sets `paused_until`, which holds every worker back. Time is the
-- database's clock, so hosts whose clocks disagree still share one budget.
CREATE TABLE credverify.chsi_budget (
    id           SMALLINT PRIMARY KEY CHECK (id = 1),
    tokens       DOUBLE PRECISION NOT NULL,
    updated_at   TIMESTAMPTZ NOT NULL,
    paused_until TIMESTAMPTZ NOT NULL DEFAULT '-infinity'
);
INSERT INTO credverify.chsi_budget (id, tokens, updated_at) VALUES (1, 0, clock_timestamp());

-- Returns 0 when the caller may send one request now (its token is taken),
-- else the seconds after which asking again can succeed. A caller that is
-- refused takes nothing, so a worker that dies while waiting wastes no share
-- and a pause set meanwhile is seen by the next ask.
CREATE FUNCTION credverify.chsi_take(p_rate DOUBLE PRECISION, p_burst DOUBLE PRECISION)
RETURNS DOUBLE PRECISION
LANGUAGE plpgsql AS $$
DECLARE
    v_tokens DOUBLE PRECISION;
    v_updated TIMESTAMPTZ;
    v_paused TIMESTAMPTZ;
    v_now TIMESTAMPTZ;
    v_avail DOUBLE PRECISION;
BEGIN
    IF p_rate <= 0 THEN
        -- Unlimited (local sandboxes): only a pause holds requests back.
        SELECT paused_until INTO v_paused FROM credverify.chsi_budget WHERE id = 1;
        v_now := clock_timestamp();
        IF v_paused > v_now THEN
            RETURN EXTRACT(EPOCH FROM v_paused - v_now);
        END IF;
        RETURN 0;
    END IF;
    SELECT tokens, updated_at, paused_until INTO v_tokens, v_updated, v_paused
        FROM credverify.chsi_budget WHERE id = 1 FOR UPDATE;
    -- Read the clock after the lock: waiting for it took time.
    v_now := clock_timestamp();
    IF NOT FOUND THEN
        INSERT INTO credverify.chsi_budget (id, tokens, updated_at) VALUES (1, 0, v_now)
            ON CONFLICT (id) DO NOTHING;
        RETURN 1 / p_rate;
    END IF;
    IF v_paused > v_now THEN
        RETURN EXTRACT(EPOCH FROM v_paused - v_now);
    END IF;
    v_avail := LEAST(GREATEST(p_burst, 1),
                     v_tokens + GREATEST(0, EXTRACT(EPOCH FROM v_now - v_updated)) * p_rate);
    IF v_avail >= 1 THEN
        UPDATE credverify.chsi_budget SET tokens = v_avail - 1, updated_at = v_now WHERE id = 1;
        RETURN 0;
    END IF;
    UPDATE credverify.chsi_budget SET tokens = v_avail, updated_at = v_now WHERE id = 1;
    RETURN (1 - v_avail) / p_rate;
END $$;

-- credverify.record_status_counts: records by status, kept by triggers so
-- that a /metrics scrape reads four rows instead of counting every record.
CREATE TABLE credverify.record_status_counts (
    status TEXT PRIMARY KEY,
    n      BIGINT NOT NULL
);
INSERT INTO credverify.record_status_counts (status, n)
    SELECT s, (SELECT COUNT(*) FROM credverify.records r WHERE r.status = s)
    FROM unnest(ARRAY['unverified', 'verified', 'rejected', 'needs_review']) AS s;

-- The two rows a status change touches are always locked in the same
-- (alphabetical) order, so a decision and a re-open running at once cannot
-- deadlock on them.
CREATE FUNCTION credverify.count_record_status() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    v_old TEXT;
    v_new TEXT;
BEGIN
    IF TG_OP <> 'INSERT' THEN v_old := OLD.status; END IF;
    IF TG_OP <> 'DELETE' THEN v_new := NEW.status; END IF;
    IF v_new IS NOT NULL THEN
        INSERT INTO credverify.record_status_counts (status, n) VALUES (v_new, 0)
            ON CONFLICT (status) DO NOTHING;
    END IF;
    IF v_old IS NOT NULL AND (v_new IS NULL OR v_old < v_new) THEN
        UPDATE credverify.record_status_counts SET n = n - 1 WHERE status = v_old;
        v_old := NULL;
    END IF;
    IF v_new IS NOT NULL THEN
        UPDATE credverify.record_status_counts SET n = n + 1 WHERE status = v_new;
    END IF;
    IF v_old IS NOT NULL THEN
        UPDATE credverify.record_status_counts SET n = n - 1 WHERE status = v_old;
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER records_count_insert_delete AFTER INSERT OR DELETE ON credverify.records
    FOR EACH ROW EXECUTE FUNCTION credverify.count_record_status();
CREATE TRIGGER records_count_status_change AFTER UPDATE OF status ON credverify.records
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status)
    EXECUTE FUNCTION credverify.count_record_status();

-- Jobs queued or running, for the queue-depth gauge: apalis keeps finished
-- jobs, and without this the gauge would scan every job ever run.
CREATE INDEX IF NOT EXISTS credverify_live_jobs ON apalis.jobs (job_type)
    WHERE status IN ('Pending', 'Queued', 'Running');

-- Unverified records whose retries are spent, for the gauge admins alert on:
-- counted from this index alone, however many records are decided.
CREATE INDEX records_retries_exhausted ON credverify.records(id)
    WHERE status = 'unverified' AND retries_exhausted;
