-- Issue 11: recording a reconciliation run no longer reads every period verdict of the wave.
-- What a run needs of each compared account (`reconcile::report::Tally`) is written by the
-- reconcile stage in the transaction that writes the account's verdicts. Accounts compared before
-- this migration get theirs from their verdicts the first time their wave records a run.
CREATE TABLE recon_tally (
    account_number TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    stake TEXT NOT NULL,
    reasons TEXT NOT NULL,
    legacy_total TEXT NOT NULL,
    new_total TEXT NOT NULL,
    unexplained BIGINT NOT NULL,
    periods BIGINT NOT NULL,
    mismatched BIGINT NOT NULL
);
-- A run's results are stored whole (`whole` = 1, as every run before this migration) or as what
-- changed since the wave's run before it (`whole` = 0): the accounts whose line changed, and the
-- outcome `gone` for an account no longer in it. A run's results are those of its wave's latest
-- whole run up to it, overlaid by each later run's in order.
ALTER TABLE reconcile_run ADD COLUMN whole BIGINT NOT NULL DEFAULT 1;
