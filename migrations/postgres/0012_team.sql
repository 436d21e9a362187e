-- Team mode (issue 12): several workers on one store.
-- A lease: a named whole-wave step (an extraction, the rebuild of one load set) held by one
-- worker (`host:pid:nonce`) until it releases it or `expires_at` passes (a dead worker).
CREATE TABLE lease (
    name TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    since TEXT NOT NULL,
    expires_at TEXT NOT NULL
);
-- A stage's claim on an account: no other live worker takes it until `claim_until` passes.
ALTER TABLE account ADD COLUMN claim_owner TEXT;
ALTER TABLE account ADD COLUMN claim_until TEXT;
-- Who is sending a notice, and until when that claim holds (then a crash is the likely story).
ALTER TABLE notice ADD COLUMN owner TEXT;
ALTER TABLE notice ADD COLUMN lease_until TEXT;
CREATE INDEX account_claim_owner ON account (claim_owner);
