-- Spend intent (docs/design.md, "Deadlines and leases"): an embed job writes
-- its ledger row before the request is sent (status 'sent', tokens counted
-- locally) and completes it with the billed tokens in the transaction that
-- writes the vectors ('billed'); a request refused unbilled is 'failed' with
-- 0 tokens. A row left 'sent' is a request whose response was lost (the
-- process died): it still counts. Rows written before this migration were
-- recorded after the response: 'billed'.
-- Numbered 0007: 0006 is taken by the labels and reconcile migration.
ALTER TABLE cost_ledger ADD COLUMN status text NOT NULL DEFAULT 'billed';
ALTER TABLE cost_ledger ADD CONSTRAINT cost_ledger_status_check CHECK (status IN ('sent', 'billed', 'failed'));
