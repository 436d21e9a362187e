-- The wave an account was in when a journal row was written: `journal --wave` reads a wave's
-- trail by it, so the rows of an account rolled back and readmitted to a later wave stay with
-- the wave they happened in (rows written before this column fall back to the account's wave).
ALTER TABLE journal ADD COLUMN wave TEXT;
