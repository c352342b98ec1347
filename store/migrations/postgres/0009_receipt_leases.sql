-- Receipt jobs are leased (Unix microseconds), so several persisters make
-- disjoint receipts instead of each making all of them; a lease that runs
-- out (its persister died) frees the row for another.
ALTER TABLE submissions ADD COLUMN receipt_leased_until BIGINT;
