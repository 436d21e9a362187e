-- Notices: retry scheduling and the server's reply; billing recipients from the email form.
ALTER TABLE notice ADD COLUMN retry_at TEXT;
CREATE INDEX notice_wave_state ON notice (wave, state);
CREATE TABLE recipient (
    account_number TEXT PRIMARY KEY,
    emails TEXT NOT NULL,
    name TEXT,
    submitted_at TEXT NOT NULL,
    imported_at TEXT NOT NULL,
    source TEXT NOT NULL
);
