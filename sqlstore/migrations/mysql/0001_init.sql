-- 0001_init: the invitation store (MySQL 8.0.16+, MariaDB 10.11+).
--
-- Creates three InnoDB tables, each with its indexes in one statement (MySQL
-- DDL commits implicitly, so each statement is written to be re-run safely):
--
--   {{prefix}}invitations  one row per invitation: the whole invite.Invitation
--                          as a JSON document (doc), the columns the queries
--                          filter and sort on, copied from it, and the
--                          credentials (hashes only: never a plaintext token
--                          or code).
--   {{prefix}}tokens       one row per current or previous link-token hash,
--                          naming its invitation: the unique index that makes
--                          a token lookup one probe and a colliding hash an
--                          error.
--   {{prefix}}outbox       one row per event, inserted in the transaction of
--                          the change that caused it, with the columns a
--                          dispatcher needs (attempts, available_at,
--                          delivered_at, last_error).
--
-- Identifiers are VARBINARY: they compare byte for byte, with no collation
-- folding case, accents or trailing spaces (255 characters of UTF-8 fit in
-- 1020 bytes). Times are DATETIME(6) in UTC (open the connection with
-- loc=UTC). MySQL has no partial indexes: the STORED generated columns
-- open_email, open_phone and open_user hold the invitee's keys (the email
-- lower-cased, the E.164 phone, the user id) while the state is open
-- (pending or sent) and NULL otherwise, and their unique indexes let the
-- database itself refuse a second open invitation for a key of the tenant;
-- due_at and purge_at do the same for the expiry sweep and for retention.

CREATE TABLE IF NOT EXISTS {{prefix}}invitations (
    tenant_id       VARBINARY(1024) NOT NULL,
    id              VARBINARY(1024) NOT NULL,
    version         BIGINT          NOT NULL,
    state           VARCHAR(16) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    email_key       VARBINARY(1024) NULL,
    phone_key       VARBINARY(64)   NULL,
    user_key        VARBINARY(1024) NULL,
    inviter_id      VARBINARY(1024) NULL,
    idempotency_key VARBINARY(1024) NULL,
    created_at      DATETIME(6)     NOT NULL,
    expires_at      DATETIME(6)     NOT NULL,
    closed_at       DATETIME(6)     NULL,
    doc             JSON            NOT NULL,
    token_hash      VARBINARY(32)   NULL,
    prev_tokens     TEXT CHARACTER SET ascii COLLATE ascii_bin NULL,
    code_hash       VARBINARY(1024) NULL,
    code_failures   INT             NOT NULL DEFAULT 0,
    open_email      VARBINARY(1024) AS (IF(state IN ('pending', 'sent'), email_key, NULL)) STORED,
    open_phone      VARBINARY(64)   AS (IF(state IN ('pending', 'sent'), phone_key, NULL)) STORED,
    open_user       VARBINARY(1024) AS (IF(state IN ('pending', 'sent'), user_key, NULL)) STORED,
    due_at          DATETIME(6)     AS (IF(state IN ('pending', 'sent'), expires_at, NULL)) STORED,
    purge_at        DATETIME(6)     AS (IF(state IN ('accepted', 'rejected', 'revoked', 'expired'), closed_at, NULL)) STORED,
    PRIMARY KEY (tenant_id, id),
    UNIQUE KEY invitations_idempotency (tenant_id, idempotency_key),
    UNIQUE KEY invitations_open_email (tenant_id, open_email),
    UNIQUE KEY invitations_open_phone (tenant_id, open_phone),
    UNIQUE KEY invitations_open_user (tenant_id, open_user),
    KEY invitations_created (tenant_id, created_at, id),
    KEY invitations_due (due_at),
    KEY invitations_closed (purge_at),
    CHECK (version > 0),
    CHECK (state IN ('pending', 'sent', 'accepted', 'rejected', 'revoked', 'expired'))
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS {{prefix}}tokens (
    token_hash    VARBINARY(32)   NOT NULL,
    tenant_id     VARBINARY(1024) NOT NULL,
    invitation_id VARBINARY(1024) NOT NULL,
    PRIMARY KEY (token_hash),
    KEY tokens_invitation (tenant_id, invitation_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS {{prefix}}outbox (
    id            VARBINARY(255)  NOT NULL,
    tenant_id     VARBINARY(1024) NOT NULL,
    invitation_id VARBINARY(1024) NOT NULL,
    type          VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    payload       JSON            NOT NULL,
    created_at    DATETIME(6)     NOT NULL,
    attempts      INT             NOT NULL DEFAULT 0,
    available_at  DATETIME(6)     NOT NULL,
    delivered_at  DATETIME(6)     NULL,
    last_error    TEXT            NULL,
    PRIMARY KEY (id),
    KEY outbox_pending (delivered_at, available_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
