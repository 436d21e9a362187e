-- Issue 11: recording a reconciliation run read every tally of the wave from the store, on every
-- day that compared accounts (223 runs at 100,000 accounts, up to 30,000 tallies each). A process
-- now keeps each wave's tallies between the runs it records (`engine::TallyCache`), and this
-- counter says whether they are still what the store holds: every transaction that writes or
-- deletes a tally, or may move an account to another wave (an extraction, a readmission), adds
-- one to it as its last statement before it commits (`Store::bump_tally_stamp_in`). A process
-- whose own commit did not take the next number knows someone else wrote, and reads again.
CREATE TABLE tally_stamp (id INTEGER PRIMARY KEY CHECK (id = 1), stamp BIGINT NOT NULL);
INSERT INTO tally_stamp (id, stamp) VALUES (1, 0);
