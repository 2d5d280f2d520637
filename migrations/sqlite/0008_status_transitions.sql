-- The state machine of src/domain/status.rs (Status::can_become, over every
-- actor), for every writer, as on PostgreSQL (0010_least_privilege.sql): a
-- test checks that the table and the Rust rules agree.
CREATE TABLE status_transitions (
    from_status TEXT NOT NULL,
    to_status   TEXT NOT NULL,
    PRIMARY KEY (from_status, to_status)
);
INSERT INTO status_transitions (from_status, to_status) VALUES
    ('unverified', 'verified'), ('unverified', 'rejected'), ('unverified', 'needs_review'),
    ('unverified', 'withdrawn'),
    ('needs_review', 'verified'), ('needs_review', 'rejected'), ('needs_review', 'unverified'),
    ('rejected', 'unverified'),
    ('verified', 'rejected'), ('verified', 'unverified');

CREATE TRIGGER records_start_unverified BEFORE INSERT ON records
WHEN NEW.status <> 'unverified'
BEGIN
    SELECT RAISE(ABORT, 'a record starts unverified');
END;

CREATE TRIGGER status_changes_are_legal BEFORE UPDATE OF status ON records
WHEN OLD.status <> NEW.status AND NOT EXISTS (
    SELECT 1 FROM status_transitions WHERE from_status = OLD.status AND to_status = NEW.status)
BEGIN
    SELECT RAISE(ABORT, 'illegal status change');
END;
