-- 0006_message_slot: a queued message held on its invitation's row
-- (PostgreSQL 14+).
--
-- An insert that queues a message for the invitation it inserts (Create
-- in send mode) keeps the message in four columns of the invitation row
-- instead of an outbox row: msg_id (the message id), msg_created,
-- msg_due (when a dispatcher may claim it) and msg_payload (the outbox
-- payload). The write that marks the invitation sent empties them in the
-- same UPDATE. Inserting and then deleting an outbox row for every such
-- message cost about a fifth of Create's throughput; the columns cost
-- next to nothing. A claim first moves the due messages into outbox rows,
-- which then live as before, and empties their columns but for msg_id:
-- the id stays taken until a write settling it empties that too.
--
-- A message id is unique across the invitation rows (invitations_message_id)
-- and across them and the outbox: a write that would reuse an id held in
-- the other place stores '' instead, which the two id_free constraints
-- refuse (sqlstore reports invite.ErrAlreadyExists). The constraints are
-- NOT VALID: the rows already there hold no message and no empty id, and
-- checking them would read both tables while they are locked.

ALTER TABLE {{prefix}}invitations
    ADD COLUMN msg_id text,
    ADD COLUMN msg_created timestamptz,
    ADD COLUMN msg_due timestamptz,
    ADD COLUMN msg_payload jsonb,
    ADD CONSTRAINT {{prefix}}message_id_free CHECK (msg_id <> '') NOT VALID,
    ADD CONSTRAINT {{prefix}}message_whole CHECK ((msg_due IS NULL) = (msg_created IS NULL)
        AND (msg_due IS NULL) = (msg_payload IS NULL) AND (msg_due IS NULL OR msg_id IS NOT NULL)) NOT VALID;

ALTER TABLE {{prefix}}outbox ADD CONSTRAINT {{prefix}}outbox_id_free CHECK (id <> '') NOT VALID;

-- The messages a claim moves to the outbox: held messages by msg_due.
-- (Not the msg_id index: a moved message that no write settles keeps its
-- msg_id, and such rows would add up.)
CREATE INDEX {{prefix}}invitations_message_due ON {{prefix}}invitations (msg_due)
    WHERE msg_due IS NOT NULL;

-- One row per message id, held or moved; a Delivered id's row, by id.
CREATE UNIQUE INDEX {{prefix}}invitations_message_id ON {{prefix}}invitations (msg_id)
    WHERE msg_id IS NOT NULL;
