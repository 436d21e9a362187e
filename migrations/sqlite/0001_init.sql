-- cutover state store, SQLite dialect. Money is canonical decimal TEXT, never REAL.
CREATE TABLE extraction (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    source TEXT NOT NULL,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    accounts BIGINT NOT NULL DEFAULT 0,
    records BIGINT NOT NULL DEFAULT 0,
    quarantined BIGINT NOT NULL DEFAULT 0
);
CREATE TABLE legacy_record (
    kind TEXT NOT NULL,
    record_key TEXT NOT NULL,
    account_number TEXT NOT NULL,
    data TEXT NOT NULL,
    source TEXT NOT NULL,
    source_row BIGINT NOT NULL,
    PRIMARY KEY (kind, record_key)
);
CREATE INDEX legacy_record_account ON legacy_record (account_number);
CREATE TABLE quarantine (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    extraction_id BIGINT NOT NULL,
    tbl TEXT NOT NULL,
    source TEXT NOT NULL,
    source_row BIGINT NOT NULL,
    account_number TEXT,
    reason TEXT NOT NULL,
    raw TEXT NOT NULL
);
CREATE TABLE account (
    account_number TEXT PRIMARY KEY,
    wave TEXT,
    state TEXT NOT NULL,
    state_reason TEXT,
    recon TEXT,
    cutover_date TEXT,
    first_new_bill_date TEXT,
    notice_date TEXT,
    updated_at TEXT NOT NULL
);
CREATE INDEX account_wave_state ON account (wave, state, account_number);
CREATE TABLE journal (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    account_number TEXT NOT NULL,
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    from_state TEXT NOT NULL,
    to_state TEXT NOT NULL,
    reason TEXT NOT NULL
);
CREATE INDEX journal_account ON journal (account_number, id);
CREATE TABLE bill (
    account_number TEXT NOT NULL,
    period TEXT NOT NULL,
    total TEXT NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (account_number, period)
);
CREATE TABLE verdict (
    account_number TEXT NOT NULL,
    period TEXT NOT NULL,
    status TEXT NOT NULL,
    legacy_total TEXT NOT NULL,
    new_total TEXT NOT NULL,
    difference TEXT NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (account_number, period)
);
CREATE TABLE notice (
    wave TEXT NOT NULL,
    account_number TEXT NOT NULL,
    kind TEXT NOT NULL,
    message_id TEXT NOT NULL UNIQUE,
    channel TEXT NOT NULL,
    recipients TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    last_error TEXT,
    created_at TEXT NOT NULL,
    sent_at TEXT,
    PRIMARY KEY (wave, account_number, kind)
);
CREATE TABLE cutover (
    account_number TEXT PRIMARY KEY,
    wave TEXT NOT NULL,
    cutover_date TEXT NOT NULL,
    first_new_bill_date TEXT NOT NULL,
    target_file TEXT NOT NULL,
    legacy_billing TEXT NOT NULL,
    at TEXT NOT NULL
);
