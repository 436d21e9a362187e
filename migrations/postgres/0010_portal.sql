-- The portal (issue 13): customers' personal links (the token's SHA-256 only), the form posts they
-- made (one row per post, keyed by the form's own nonce so a post counts once) and their questions.
CREATE TABLE portal_link (
    token_hash TEXT PRIMARY KEY,
    account_number TEXT NOT NULL,
    wave TEXT NOT NULL,
    kind TEXT NOT NULL,
    expires_on TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX portal_link_account ON portal_link (account_number);
CREATE TABLE portal_submission (
    id BIGSERIAL PRIMARY KEY,
    nonce TEXT NOT NULL UNIQUE,
    account_number TEXT NOT NULL,
    emails TEXT NOT NULL,
    submitted_at TEXT NOT NULL
);
CREATE INDEX portal_submission_account ON portal_submission (account_number);
CREATE TABLE portal_question (
    id BIGSERIAL PRIMARY KEY,
    nonce TEXT NOT NULL UNIQUE,
    account_number TEXT NOT NULL,
    message TEXT NOT NULL,
    asked_at TEXT NOT NULL
);
CREATE INDEX portal_question_account ON portal_question (account_number);
