-- Issue 11: extraction into PostgreSQL. The extracted records are keyed by account number, kind
-- and key text that are only ever compared for equality (never sorted for a person), and with
-- the database's default collation (C.UTF-8, en_US.UTF-8, ...) every comparison in their primary
-- keys went through the C library's strcoll: a tenth of the server's time in a 20,000-account
-- extraction. Compared byte by byte ("C"), equality is the same and the load is faster.
-- (SQLite compares text byte by byte already: nothing to do there.)
ALTER TABLE legacy_row ALTER COLUMN account_number TYPE TEXT COLLATE "C", ALTER COLUMN kind TYPE TEXT COLLATE "C";
ALTER TABLE legacy_key ALTER COLUMN kind TYPE TEXT COLLATE "C", ALTER COLUMN record_key TYPE TEXT COLLATE "C";
