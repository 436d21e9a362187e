-- Issue 11: every notify run lists the wave's printed letters that went out (the day files of
-- letters); this index finds them without visiting every sent email notice of the wave.
CREATE INDEX notice_printed ON notice (wave, channel, state);
-- Every switch run looks for its wave's cut-overs whose files were never published (twice a
-- run, on every simulated day of the demo): without this index, a scan of every cut-over row.
CREATE INDEX cutover_unpublished ON cutover (wave, published);
