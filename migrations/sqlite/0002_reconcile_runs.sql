-- Reconciliation runs, waivers and the wave journal (sqlite dialect). Money is canonical decimal TEXT.
-- Every reconciliation outcome is kept as a numbered run of its wave (number counts per wave),
-- with one row per account, so a report can say what changed since the previous run.
CREATE TABLE reconcile_run (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    wave TEXT NOT NULL,
    number BIGINT NOT NULL,
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    via TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    accounts BIGINT NOT NULL,
    passed BIGINT NOT NULL,
    failed BIGINT NOT NULL,
    waived BIGINT NOT NULL,
    unexplained BIGINT NOT NULL,
    pass_rate TEXT NOT NULL,
    legacy_total TEXT NOT NULL,
    new_total TEXT NOT NULL,
    absolute_variance TEXT NOT NULL,
    gate TEXT NOT NULL,
    UNIQUE (wave, number)
);
CREATE TABLE reconcile_result (
    run_id BIGINT NOT NULL,
    account_number TEXT NOT NULL,
    outcome TEXT NOT NULL,
    stake TEXT NOT NULL,
    reasons TEXT NOT NULL,
    PRIMARY KEY (run_id, account_number)
);
-- A person's decision that a failing account may be switched anyway (journaled on the account).
CREATE TABLE waiver (
    account_number TEXT PRIMARY KEY,
    reason TEXT NOT NULL,
    actor TEXT NOT NULL,
    at TEXT NOT NULL
);
-- Wave-level events (e.g. a gate promotion), journaled like account transitions.
CREATE TABLE wave_journal (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    wave TEXT NOT NULL,
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    event TEXT NOT NULL,
    reason TEXT NOT NULL,
    fingerprint TEXT NOT NULL DEFAULT '',
    data TEXT NOT NULL DEFAULT ''
);
CREATE INDEX wave_journal_wave ON wave_journal (wave, id);
