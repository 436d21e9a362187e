-- The journal keeps both times: `at`, the effective time of the run (its as-of day), and
-- `recorded_at`, the wall clock when the row was written (NULL for rows written before).
ALTER TABLE journal ADD COLUMN recorded_at TEXT;
ALTER TABLE wave_journal ADD COLUMN recorded_at TEXT;
