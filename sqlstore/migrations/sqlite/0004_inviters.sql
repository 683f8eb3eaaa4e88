-- 0004_inviters: the inviters' limits of open invitations
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

CREATE TABLE {{prefix}}inviters (
    tenant_id  TEXT NOT NULL,
    inviter_id TEXT NOT NULL,
    PRIMARY KEY (tenant_id, inviter_id)
) WITHOUT ROWID;

CREATE INDEX {{prefix}}invitations_inviter_open ON {{prefix}}invitations (tenant_id, inviter_id, expires_at)
    WHERE state IN ('pending', 'sent');
