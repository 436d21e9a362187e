-- Issue 11: the extracted legacy records, stored about as compactly as the source holds them.
-- One row per source row, clustered by account (a stage loads an account's records together):
-- the source row's cells without the column names (a JSON array, the account number left out: it
-- is the key), parsed again when loaded by the parser that took them in. The source and the
-- record's name are not repeated on every row. Only the rows with an id of their own (accounts,
-- services, contacts) keep a key, for the duplicate checks. Existing records move over as they
-- are (a JSON object, still read).
CREATE TABLE legacy_row (
    account_number TEXT NOT NULL,
    kind TEXT NOT NULL,
    source_row BIGINT NOT NULL,
    cells TEXT NOT NULL,
    PRIMARY KEY (account_number, kind, source_row)
);
CREATE TABLE legacy_key (
    kind TEXT NOT NULL,
    record_key TEXT NOT NULL,
    PRIMARY KEY (kind, record_key)
);
INSERT INTO legacy_row (account_number, kind, source_row, cells)
    SELECT account_number, kind, source_row, data FROM legacy_record;
INSERT INTO legacy_key (kind, record_key)
    SELECT kind, record_key FROM legacy_record WHERE kind IN ('account', 'service', 'contact');
DROP TABLE legacy_record;
-- An extracted account that is not a customer yet on a run's day (no service, no bill) is not
-- loaded again by the rate stage before this day (its first service or bill; re-extraction clears it).
ALTER TABLE account ADD COLUMN not_before TEXT;
