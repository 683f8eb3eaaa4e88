-- 0002_outbox: the outbox becomes a queue of events and messages with
-- claims, leases and dead letters (MySQL 8.0.16+, MariaDB 10.11+).
--
-- Adds three columns to {{prefix}}outbox:
--
--   kind     'event' (an invite.Event for the host's event sink; every row
--            written before this migration) or 'message' (an invitation
--            message for the host's notifier).
--   owner    the dispatcher holding, or that last held, the row's claim.
--   dead_at  when the row was dead-lettered (NULL while it is not).
--
-- A row is due when delivered_at and dead_at are NULL and available_at is
-- at or before now; a claim moves available_at to the end of its lease.
--
-- MySQL has no partial indexes: as in 0001, STORED generated columns hold a
-- value only for the rows an index is for, and NULL otherwise, and the
-- queries compare them. due_at is available_at while the row is neither
-- delivered nor dead (the claim's index, replacing outbox_pending), and
-- dead_tenant is tenant_id while the row is dead and undelivered (a
-- tenant's dead letters by id: ListDeadOutbox, RedriveOutbox). Plain
-- indexes serve an invitation's rows (a Delete's and Purge's cleanup) and
-- delivered rows by delivered_at (PurgeOutbox), where NULLs stay out of the
-- range scanned.
--
-- Rows still undelivered when this migration runs were written before any
-- dispatcher existed: they are marked delivered at their created_at, so
-- that an upgrade does not replay the store's whole history to a newly
-- configured event sink. Purging delivered rows (PurgeOutbox) then removes
-- them.
--
-- MySQL DDL commits implicitly, so each step must be safe to re-run after a
-- migration interrupted half-way, and MySQL has no ADD COLUMN IF NOT
-- EXISTS (MariaDB has): both steps run only while the column kind is
-- missing (a statement chosen from information_schema, prepared and run on
-- the migration's connection). The UPDATE comes first: once the ALTER has
-- run, the rows of new writes must not be marked delivered. The ALTER is
-- one statement, which InnoDB applies whole or not at all.

SET @invite_0002 = IF((SELECT COUNT(*) FROM information_schema.columns WHERE table_schema = DATABASE()
        AND table_name = '{{prefix}}outbox' AND column_name = 'kind') = 0,
    'UPDATE {{prefix}}outbox SET delivered_at = created_at WHERE delivered_at IS NULL',
    'DO 0');
PREPARE invite_0002 FROM @invite_0002;
EXECUTE invite_0002;
DEALLOCATE PREPARE invite_0002;

SET @invite_0002 = IF((SELECT COUNT(*) FROM information_schema.columns WHERE table_schema = DATABASE()
        AND table_name = '{{prefix}}outbox' AND column_name = 'kind') = 0,
    'ALTER TABLE {{prefix}}outbox
        ADD COLUMN kind VARCHAR(16) CHARACTER SET ascii COLLATE ascii_bin NOT NULL DEFAULT ''event''
            CHECK (kind IN (''event'', ''message'')),
        ADD COLUMN owner VARBINARY(1024) NULL,
        ADD COLUMN dead_at DATETIME(6) NULL,
        ADD COLUMN due_at DATETIME(6) AS (IF(delivered_at IS NULL AND dead_at IS NULL, available_at, NULL)) STORED,
        ADD COLUMN dead_tenant VARBINARY(1024) AS (IF(dead_at IS NOT NULL AND delivered_at IS NULL, tenant_id, NULL)) STORED,
        DROP INDEX outbox_pending,
        ADD KEY outbox_due (due_at),
        ADD KEY outbox_dead (dead_tenant, id),
        ADD KEY outbox_invitation (tenant_id, invitation_id),
        ADD KEY outbox_delivered (delivered_at)',
    'DO 0');
PREPARE invite_0002 FROM @invite_0002;
EXECUTE invite_0002;
DEALLOCATE PREPARE invite_0002;
