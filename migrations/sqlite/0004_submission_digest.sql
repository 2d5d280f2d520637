-- An idempotency key is stored with a digest of what was submitted: the same
-- key with other content is refused instead of silently answering with the
-- earlier record. Records from before this column have none and are taken
-- at their word.
ALTER TABLE records ADD COLUMN submission_digest TEXT;
