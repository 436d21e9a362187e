-- A waiver covers the failure it was granted for: `covers` keeps that failure as the
-- reconciliation described it (its mismatched periods, differences and reasons). A later
-- reconciliation that fails differently is not waived by it: the account is held, saying so, and
-- a person waives again. Waivers granted before this migration (NULL) cover any failure, as
-- they did.
ALTER TABLE waiver ADD COLUMN covers TEXT;
