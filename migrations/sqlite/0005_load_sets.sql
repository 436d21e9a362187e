-- Load files per wave and cut-over date (issue 10): the files are a projection of these rows.
-- A cut-over row is "published" once its set's data files (incl. legacy-suppression.csv) are
-- written; a set is "dirty" from a state change until its files and manifest are rewritten.
ALTER TABLE cutover ADD COLUMN published BIGINT NOT NULL DEFAULT 1;
ALTER TABLE cutover ADD COLUMN snapshot TEXT NOT NULL DEFAULT '';
ALTER TABLE cutover ADD COLUMN load_status TEXT;
ALTER TABLE cutover ADD COLUMN target_id TEXT;
ALTER TABLE cutover ADD COLUMN load_error TEXT;
ALTER TABLE account ADD COLUMN readmitted_to TEXT;
CREATE TABLE load_set (
    wave TEXT NOT NULL,
    cutover_date TEXT NOT NULL,
    dirty BIGINT NOT NULL,
    written_at TEXT,
    PRIMARY KEY (wave, cutover_date)
);
-- What to undo in the target, and from when the legacy system bills again (rollback.csv).
CREATE TABLE reversal (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    account_number TEXT NOT NULL,
    wave TEXT NOT NULL,
    cutover_date TEXT NOT NULL,
    first_new_bill_date TEXT NOT NULL,
    target_id TEXT,
    action TEXT NOT NULL,
    resume_legacy_from TEXT NOT NULL,
    reason TEXT NOT NULL,
    at TEXT NOT NULL
);
CREATE INDEX reversal_set ON reversal (wave, cutover_date, id);
