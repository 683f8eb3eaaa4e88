-- 0001_init: the invitation store (PostgreSQL 14+, CockroachDB, YugabyteDB).
--
-- Creates three tables and their indexes:
--
--   {{prefix}}invitations  one row per invitation: the whole invite.Invitation
--                          as a jsonb document (doc), the columns the queries
--                          filter and sort on, copied from it, and the
--                          credentials (hashes only: never a plaintext token
--                          or code).
--   {{prefix}}tokens       one row per current or previous link-token hash,
--                          naming its invitation: the unique index that makes
--                          a token lookup one probe and a colliding hash an
--                          error.
--   {{prefix}}outbox       one row per event, inserted by the same statement
--                          or transaction as the change that caused it, with
--                          the columns a dispatcher needs (attempts,
--                          available_at, delivered_at, last_error).
--
-- email_key, phone_key and user_key are the invitee's keys (the email
-- lower-cased, the E.164 phone, the user id). The partial unique indexes on
-- them, over the rows whose state is open (pending or sent), let the database
-- itself refuse a second open invitation for a key of the tenant. Times are
-- timestamptz (microseconds, UTC). Identifiers compare in byte order in the
-- queries (COLLATE "C" there, not on the columns, which CockroachDB refuses).

CREATE TABLE {{prefix}}invitations (
    tenant_id       text        NOT NULL,
    id              text        NOT NULL,
    version         bigint      NOT NULL CHECK (version > 0),
    state           text        NOT NULL CHECK (state IN ('pending', 'sent', 'accepted', 'rejected', 'revoked', 'expired')),
    email_key       text,
    phone_key       text,
    user_key        text,
    inviter_id      text,
    idempotency_key text,
    created_at      timestamptz NOT NULL,
    expires_at      timestamptz NOT NULL,
    closed_at       timestamptz,
    doc             jsonb       NOT NULL,
    token_hash      bytea,
    prev_tokens     jsonb,
    code_hash       bytea,
    code_failures   integer     NOT NULL DEFAULT 0,
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
    token_hash    bytea PRIMARY KEY,
    tenant_id     text  NOT NULL,
    invitation_id text  NOT NULL
);

-- An invitation's token rows (updates, deletes, Purge).
CREATE INDEX {{prefix}}tokens_invitation ON {{prefix}}tokens (tenant_id, invitation_id);

CREATE TABLE {{prefix}}outbox (
    id            text        PRIMARY KEY,
    tenant_id     text        NOT NULL,
    invitation_id text        NOT NULL,
    type          text        NOT NULL,
    payload       jsonb       NOT NULL,
    created_at    timestamptz NOT NULL,
    attempts      integer     NOT NULL DEFAULT 0,
    available_at  timestamptz NOT NULL,
    delivered_at  timestamptz,
    last_error    text
);

-- The dispatcher's queue: undelivered events by the time they become due.
CREATE INDEX {{prefix}}outbox_pending ON {{prefix}}outbox (available_at)
    WHERE delivered_at IS NULL;
