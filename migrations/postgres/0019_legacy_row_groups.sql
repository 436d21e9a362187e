-- Issue 11: an account's records of one kind from one batch of the source are stored as one row
-- (`store::packed`): their source rows in `source_rows` as runs (`12-40,45`), `source_row` the
-- first of them, their cells joined by U+001C in `records`, or deflated in `packed` when that text
-- is 1 KiB or more; `cells` stays empty, so that a cutover from before this migration fails on
-- such a row instead of reading its first record alone. At 20,000 accounts 1.1 million source
-- rows become about 93,000 stored rows (a twelfth of `legacy_row`'s keys to index), and the
-- records take less than half the room (SQLite: 117 MiB, now 53). A row stored before (no
-- `source_rows`) holds one record's cells, at `source_row`, and is still read.
ALTER TABLE legacy_row ADD COLUMN source_rows TEXT;
ALTER TABLE legacy_row ADD COLUMN records TEXT;
ALTER TABLE legacy_row ADD COLUMN packed BYTEA;
