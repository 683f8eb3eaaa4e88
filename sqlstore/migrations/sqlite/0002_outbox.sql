-- 0002_outbox: the outbox becomes a queue of events and messages with
-- claims, leases and dead letters (SQLite 3.35+).
--
-- Adds three columns to {{prefix}}outbox:
--
--   kind     'event' (an invite.Event for the host's event sink; every row
--            written before this migration) or 'message' (an invitation
--            message for the host's notifier).
--   owner    the dispatcher holding, or that last held, the row's claim.
--   dead_at  when the row was dead-lettered (NULL while it is not), in
--            unix microseconds like the other times.
--
-- A row is due when delivered_at and dead_at are NULL and available_at is
-- at or before now; a claim moves available_at to the end of its lease.
--
-- Rows still undelivered when this migration runs were written before any
-- dispatcher existed: they are marked delivered at their created_at, so
-- that an upgrade does not replay the store's whole history to a newly
-- configured event sink. Purging delivered rows (PurgeOutbox) then removes
-- them.
--
-- The indexes: the claim's (due rows by available_at), replacing
-- outbox_pending; a tenant's dead letters by id (ListDeadOutbox,
-- RedriveOutbox); an invitation's rows (a Delete's and Purge's cleanup);
-- delivered rows by delivered_at (PurgeOutbox).

ALTER TABLE {{prefix}}outbox ADD COLUMN kind TEXT NOT NULL DEFAULT 'event' CHECK (kind IN ('event', 'message'));
ALTER TABLE {{prefix}}outbox ADD COLUMN owner TEXT;
ALTER TABLE {{prefix}}outbox ADD COLUMN dead_at INTEGER;

DROP INDEX {{prefix}}outbox_pending;

UPDATE {{prefix}}outbox SET delivered_at = created_at WHERE delivered_at IS NULL;

-- The dispatcher's queue (ClaimOutbox, OutboxStats): due and claimed rows by
-- available_at (and id, the claim's order).
CREATE INDEX {{prefix}}outbox_due ON {{prefix}}outbox (available_at, id)
    WHERE delivered_at IS NULL AND dead_at IS NULL;

-- Dead letters per tenant, by id (ListDeadOutbox, RedriveOutbox, OutboxStats).
CREATE INDEX {{prefix}}outbox_dead ON {{prefix}}outbox (tenant_id, id)
    WHERE dead_at IS NOT NULL AND delivered_at IS NULL;

-- An invitation's rows (Apply's Delete, Purge).
CREATE INDEX {{prefix}}outbox_invitation ON {{prefix}}outbox (tenant_id, invitation_id);

-- Retention (PurgeOutbox): delivered rows by the time they were delivered.
CREATE INDEX {{prefix}}outbox_delivered ON {{prefix}}outbox (delivered_at)
    WHERE delivered_at IS NOT NULL;
