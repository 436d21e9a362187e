-- Issue 11: every run asks, per wave and state, for the accounts whose date has come
-- (`Store::wave_idle` on every day of every wave, `count_due`, a stage's pages). With only
-- (wave, state, account_number), each question visited every account of the wave in that state:
-- the thousands reconciled in April that wait for a notice date in October, on every simulated
-- day between. These indexes find the first due account at once.
CREATE INDEX account_notice_due ON account (wave, state, notice_date);
CREATE INDEX account_cutover_due ON account (wave, state, cutover_date);
CREATE INDEX account_known_due ON account (wave, state, (COALESCE(not_before, '0000-01-01')));
