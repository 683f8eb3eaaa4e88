-- 0006_message_slot: a queued message held on its invitation's row
-- (PostgreSQL 14+).
--
-- An insert that queues a message for the invitation it inserts (Create
-- in send mode) keeps the message in four columns of the invitation row
-- instead of an outbox row: msg_id (the message id), msg_created,
-- msg_due (when a dispatcher may claim it) and msg_payload (the outbox
-- payload). The write that marks the invitation sent clears them in the
-- same UPDATE. Inserting and then deleting an outbox row for every such
-- message cost about a quarter of Create's throughput; the columns cost
-- next to nothing. A claim first moves the due messages (slots still set
-- at msg_due) into outbox rows, which then live as before.
--
-- A message id is unique across the slots (invitations_message_id) and
-- across slots and outbox rows: a write that would reuse an id held in
-- the other place stores '' instead, which the two id_free constraints
-- refuse (sqlstore reports invite.ErrAlreadyExists).

ALTER TABLE {{prefix}}invitations
    ADD COLUMN msg_id text,
    ADD COLUMN msg_created timestamptz,
    ADD COLUMN msg_due timestamptz,
    ADD COLUMN msg_payload jsonb,
    ADD CONSTRAINT {{prefix}}message_id_free CHECK (msg_id <> ''),
    ADD CONSTRAINT {{prefix}}message_whole CHECK (
        (msg_id IS NULL) = (msg_created IS NULL) AND (msg_id IS NULL) = (msg_due IS NULL) AND (msg_id IS NULL) = (msg_payload IS NULL));

ALTER TABLE {{prefix}}outbox ADD CONSTRAINT {{prefix}}outbox_id_free CHECK (id <> '');

-- The messages a claim moves to the outbox: held slots by msg_due. (Its
-- condition is on msg_due, so that a lookup by msg_id never reads it.)
CREATE INDEX {{prefix}}invitations_message_due ON {{prefix}}invitations (msg_due)
    WHERE msg_due IS NOT NULL;

-- One slot per message id; a Delivered id's slot, found by id.
CREATE UNIQUE INDEX {{prefix}}invitations_message_id ON {{prefix}}invitations (msg_id)
    WHERE msg_id IS NOT NULL;
