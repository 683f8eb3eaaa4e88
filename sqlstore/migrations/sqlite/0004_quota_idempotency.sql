-- 0004_quota_idempotency: the inviters' limits of open invitations, and
-- the digest of the request an idempotency key was first used with
-- (invite.Write.OpenLimit).
--
-- {{prefix}}inviters has a row per tenant and inviter that ever had an
-- insert under a limit. A write under a limit upserts its inviter's row
-- before it writes, then counts the inviter's open invitations (SQLite
-- has one writer at a time: the upsert makes the transaction the writer
-- before it counts).
--
-- invitations_inviter_open serves that count: the open invitations of a
-- tenant's inviter.
--
-- invitations.request_digest is invite.Credentials.RequestDigest: the
-- SHA-256 of the Create request of an invitation made with an idempotency
-- key (NULL otherwise, and on the rows written before it).

CREATE TABLE {{prefix}}inviters (
    tenant_id  TEXT NOT NULL,
    inviter_id TEXT NOT NULL,
    PRIMARY KEY (tenant_id, inviter_id)
) WITHOUT ROWID;

CREATE INDEX {{prefix}}invitations_inviter_open ON {{prefix}}invitations (tenant_id, inviter_id, expires_at)
    WHERE state IN ('pending', 'sent');

ALTER TABLE {{prefix}}invitations ADD COLUMN request_digest BLOB;
