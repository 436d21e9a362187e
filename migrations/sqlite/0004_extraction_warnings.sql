-- Extraction warnings: columns a legacy file or table left out that may be (SPEC §2), one per line.
ALTER TABLE extraction ADD COLUMN warnings TEXT;
