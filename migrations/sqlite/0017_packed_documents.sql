-- Issue 11: the store at most twice the legacy database. A bill and a cut-over snapshot are JSON
-- documents the store keeps whole and never queries inside; they are now kept deflated
-- (`store::packed`), which makes them about a third of their size. Rows written before this
-- migration keep their text and no packed form, and are read as they were.
ALTER TABLE bill ADD COLUMN packed BLOB;
ALTER TABLE cutover ADD COLUMN snapshot_packed BLOB;
