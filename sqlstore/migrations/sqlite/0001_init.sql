-- 0001_init: the invitation store (SQLite 3.35+).
--
-- Creates three tables and their indexes:
--
--   {{prefix}}invitations  one row per invitation: the whole invite.Invitation
--                          as a JSON document (doc, TEXT), the columns the
--                          queries filter and sort on, copied from it, and
--                          the credentials (hashes only: never a plaintext
--                          token or code).
--   {{prefix}}tokens       one row per current or previous link-token hash,
--                          naming its invitation: the unique index that makes
--                          a token lookup one probe and a colliding hash an
--                          error.
--   {{prefix}}outbox       one row per event, inserted in the transaction of
--                          the change that caused it, with the columns a
--                          dispatcher needs (attempts, available_at,
--                          delivered_at, last_error).
--
-- Times are INTEGER unix microseconds (UTC): exact, and they sort and compare
-- as numbers. email_key, phone_key and user_key are the invitee's keys (the
-- email lower-cased, the E.164 phone, the user id); the partial unique
-- indexes on them, over the rows whose state is open (pending or sent), let
-- the database itself refuse a second open invitation for a key of the
-- tenant. TEXT compares in byte order (the BINARY collation).

CREATE TABLE {{prefix}}invitations (
    tenant_id       TEXT    NOT NULL,
    id              TEXT    NOT NULL,
    version         INTEGER NOT NULL CHECK (version > 0),
    state           TEXT    NOT NULL CHECK (state IN ('pending', 'sent', 'accepted', 'rejected', 'revoked', 'expired')),
    email_key       TEXT,
    phone_key       TEXT,
    user_key        TEXT,
    inviter_id      TEXT,
    idempotency_key TEXT,
    created_at      INTEGER NOT NULL,
    expires_at      INTEGER NOT NULL,
    closed_at       INTEGER,
    doc             TEXT    NOT NULL,
    token_hash      BLOB,
    prev_tokens     TEXT,
    code_hash       BLOB,
    code_failures   INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, id)
);

-- One invitation per idempotency key and tenant (GetByIdempotencyKey).
CREATE UNIQUE INDEX {{prefix}}invitations_idempotency ON {{prefix}}invitations (tenant_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;

-- One open invitation per invitee key and tenant (Apply's uniqueness, FindOpen).
CREATE UNIQUE INDEX {{prefix}}invitations_open_email ON {{prefix}}invitations (tenant_id, email_key)
    WHERE state IN ('pending', 'sent') AND email_key IS NOT NULL;
CREATE UNIQUE INDEX {{prefix}}invitations_open_phone ON {{prefix}}invitations (tenant_id, phone_key)
    WHERE state IN ('pending', 'sent') AND phone_key IS NOT NULL;
CREATE UNIQUE INDEX {{prefix}}invitations_open_user ON {{prefix}}invitations (tenant_id, user_key)
    WHERE state IN ('pending', 'sent') AND user_key IS NOT NULL;

-- Keyset pagination (List).
CREATE INDEX {{prefix}}invitations_created ON {{prefix}}invitations (tenant_id, created_at, id);

-- The expiry sweep (ListDue): open invitations by expiry.
CREATE INDEX {{prefix}}invitations_due ON {{prefix}}invitations (expires_at)
    WHERE state IN ('pending', 'sent');

-- Retention (Purge): closed invitations by the time they closed.
CREATE INDEX {{prefix}}invitations_closed ON {{prefix}}invitations (closed_at)
    WHERE state IN ('accepted', 'rejected', 'revoked', 'expired');

CREATE TABLE {{prefix}}tokens (
    token_hash    BLOB PRIMARY KEY,
    tenant_id     TEXT NOT NULL,
    invitation_id TEXT NOT NULL
);

-- An invitation's token rows (updates, deletes, Purge).
CREATE INDEX {{prefix}}tokens_invitation ON {{prefix}}tokens (tenant_id, invitation_id);

CREATE TABLE {{prefix}}outbox (
    id            TEXT    PRIMARY KEY,
    tenant_id     TEXT    NOT NULL,
    invitation_id TEXT    NOT NULL,
    type          TEXT    NOT NULL,
    payload       TEXT    NOT NULL,
    created_at    INTEGER NOT NULL,
    attempts      INTEGER NOT NULL DEFAULT 0,
    available_at  INTEGER NOT NULL,
    delivered_at  INTEGER,
    last_error    TEXT
);

-- The dispatcher's queue: undelivered events by the time they become due.
CREATE INDEX {{prefix}}outbox_pending ON {{prefix}}outbox (available_at)
    WHERE delivered_at IS NULL;
