-- Issue 11: an account's records of one kind from one batch of the source are stored as one row
-- (`store::packed`): their source rows in `source_rows` as runs (`12-40,45`), `source_row` the
-- first of them, their cells joined by U+001C in `cells`, or deflated in `packed` (and `cells`
-- empty) when that text is 1 KiB or more. At 20,000 accounts 1.1 million source rows become about
-- 93,000 stored rows, so an extraction indexes a twelfth of the keys, and the records take less
-- than half the room (SQLite: 117 MiB, now 53). A row stored before (no `source_rows`) holds one
-- record's cells, at `source_row`, and is still read.
ALTER TABLE legacy_row ADD COLUMN source_rows TEXT;
ALTER TABLE legacy_row ADD COLUMN packed BLOB;
