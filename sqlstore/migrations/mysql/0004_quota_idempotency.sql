-- 0004_quota_idempotency: the inviters' limits of open invitations, and
-- the digest of the request an idempotency key was first used with
-- (invite.Write.OpenLimit; MySQL 8.0.16+, MariaDB 10.11+).
--
-- {{prefix}}inviters has a row per tenant and inviter that ever had an
-- insert under a limit. A write under a limit locks its inviter's row (an
-- INSERT ... ON DUPLICATE KEY UPDATE) before it writes, then counts the
-- inviter's open invitations with a locking read (which sees the rows
-- committed before it, whatever the transaction's snapshot): concurrent
-- writes for one inviter take turns, so two cannot both pass the limit.
--
-- invitations_inviter_open serves that count.
--
-- invitations.request_digest is invite.Credentials.RequestDigest: the
-- SHA-256 of the Create request of an invitation made with an idempotency
-- key (NULL otherwise, and on the rows written before it).
--
-- MySQL DDL commits implicitly, and MySQL has neither CREATE INDEX IF NOT
-- EXISTS nor ADD COLUMN IF NOT EXISTS (MariaDB has both): the index and
-- the column are added, in one ALTER, only while the column is missing (a
-- statement chosen from information_schema, prepared and run on the
-- migration's connection).

CREATE TABLE IF NOT EXISTS {{prefix}}inviters (
    tenant_id  VARBINARY(1024) NOT NULL,
    inviter_id VARBINARY(1024) NOT NULL,
    PRIMARY KEY (tenant_id, inviter_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

SET @invite_0004 = IF((SELECT COUNT(*) FROM information_schema.columns WHERE table_schema = DATABASE()
        AND table_name = '{{prefix}}invitations' AND column_name = 'request_digest') = 0,
    'ALTER TABLE {{prefix}}invitations
        ADD COLUMN request_digest VARBINARY(32) NULL,
        ADD KEY invitations_inviter_open (tenant_id, inviter_id, state)',
    'DO 0');
PREPARE invite_0004 FROM @invite_0004;
EXECUTE invite_0004;
DEALLOCATE PREPARE invite_0004;
