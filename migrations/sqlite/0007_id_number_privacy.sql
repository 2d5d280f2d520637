-- The ID number, kept no further than a verdict needs (issue 12, point 9).
--
-- Before: digits 1–4 and 15–18 in id_number_masked, 7–14 in birth_date, and a
-- SHA-256 salted with a value stored in `settings`: a copy of the database
-- gave back every full number in microseconds.
--
-- Now the mask keeps the last two characters; birth_date and gender stay (the
-- verdict compares them with the report); id_number_hash is an HMAC-SHA256
-- under a key the workers hold (--id-hmac-key-file), never the database. The
-- full number waits in id_number_pending only until a worker seals the record.
-- Older records lose their salted hashes with the salt, and their digests
-- (which held the salted hash): an idempotency key of theirs is taken at its
-- word.

ALTER TABLE records ADD COLUMN id_number_pending TEXT;

UPDATE records
SET id_number_masked = '****************' || substr(id_number_masked, -2, 2),
    id_number_hash = NULL,
    submission_digest = NULL
WHERE id_number_masked IS NOT NULL OR id_number_hash IS NOT NULL;

-- A typed, read or reported 证件号码 keeps its last two characters too.
UPDATE records
SET claimed = json_set(claimed, '$.id_number_masked',
        '****************' || substr(json_extract(claimed, '$.id_number_masked'), -2, 2)),
    submission_digest = NULL
WHERE CASE WHEN json_valid(claimed) THEN json_type(claimed, '$.id_number_masked') = 'text' ELSE 0 END;
UPDATE records
SET ocr = json_set(ocr, '$.fields.id_number_masked',
        '****************' || substr(json_extract(ocr, '$.fields.id_number_masked'), -2, 2))
WHERE CASE WHEN json_valid(ocr) THEN json_type(ocr, '$.fields.id_number_masked') = 'text' ELSE 0 END;
UPDATE records
SET authoritative = json_set(authoritative, '$.fields.id_number_masked',
        '****************' || substr(json_extract(authoritative, '$.fields.id_number_masked'), -2, 2))
WHERE CASE WHEN json_valid(authoritative) THEN json_type(authoritative, '$.fields.id_number_masked') = 'text' ELSE 0 END;

DROP TABLE settings;

CREATE INDEX records_id_pending ON records(id) WHERE id_number_pending IS NOT NULL;
