-- Issue 11: a worker's heartbeat renews the leases of the notices it is sending
-- (`store::lease::renewals`: `state = 'sending'` and its owner), every third of a lease per
-- process. Nothing indexed a notice by its owner, so each renewal read the whole notice table
-- (a notice an account: 65,000 rows at 100,000 accounts). Only notices being sent are in this
-- index, a handful at any time: a notice enters it when it is taken and leaves it when it is
-- marked sent or failed.
CREATE INDEX notice_sending_owner ON notice (owner) WHERE state = 'sending';
