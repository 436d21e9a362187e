-- Issue 11: recording a reconciliation run reads the tally of every account of the wave, on
-- every day that compared accounts (223 runs at 100,000 accounts, up to 30,000 tallies each).
-- Joining nine columns into text for each of them in the query was two thirds of that read.
-- `line` holds them joined once, when the tally is written (`Store::put_tallies_in`): the
-- account number, status, stake, reasons, legacy total, new total, unexplained, periods and
-- mismatched periods, separated by U+001F, as `Store::wave_tallies` reads them.
ALTER TABLE recon_tally ADD COLUMN line TEXT;
UPDATE recon_tally SET line = account_number || chr(31) || status || chr(31) || stake || chr(31) || reasons
    || chr(31) || legacy_total || chr(31) || new_total || chr(31) || unexplained || chr(31) || periods
    || chr(31) || mismatched;
