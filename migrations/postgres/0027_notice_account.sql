-- A notice for other dates than one sent before says so (its customer was told another date):
-- each page of notices looks up its accounts' sent notices in any wave. This index finds them
-- without reading every notice of the store on every page.
CREATE INDEX notice_account_state ON notice (account_number, state);
