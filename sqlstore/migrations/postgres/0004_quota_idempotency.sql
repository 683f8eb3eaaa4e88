-- 0004_quota_idempotency: the inviters' limits of open invitations, and
-- the digest of the request an idempotency key was first used with
-- (invite.Write.OpenLimit; PostgreSQL 14+).
--
-- {{prefix}}inviters has a row per tenant and inviter that ever had an
-- insert under a limit. A write under a limit locks its inviter's row (an
-- upsert that changes nothing) before it writes, then counts the
-- inviter's open invitations: concurrent writes for one inviter take
-- turns, so two cannot both pass the limit.
--
-- invitations_inviter_open serves that count: the open invitations of a
-- tenant's inviter.
--
-- invitations.request_digest is invite.Credentials.RequestDigest: the
-- SHA-256 of the Create request of an invitation made with an idempotency
-- key (NULL otherwise, and on the rows written before it).

CREATE TABLE {{prefix}}inviters (
    tenant_id  text NOT NULL,
    inviter_id text NOT NULL,
    PRIMARY KEY (tenant_id, inviter_id)
);

CREATE INDEX {{prefix}}invitations_inviter_open ON {{prefix}}invitations (tenant_id, inviter_id, expires_at)
    WHERE state IN ('pending', 'sent');

ALTER TABLE {{prefix}}invitations ADD COLUMN request_digest bytea;
