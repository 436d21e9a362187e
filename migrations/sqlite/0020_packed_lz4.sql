-- Issue 11: packed documents and record groups (`bill.packed`, `cutover.snapshot_packed`,
-- `legacy_row.packed`) are now written as LZ4 (`store::packed`), marked by a first byte no
-- deflate stream starts with; values deflated before stay as they are and are still read. No
-- column changes: this version is recorded so that a cutover built before it, which cannot read
-- LZ4, refuses the store at open instead of reading a new value as corrupt.
SELECT 1;
