-- 0005_search_keys: invite.Filter.Search's keys as columns, so that names
-- match whatever their case in every script (MySQL 8.0.16+, MariaDB
-- 10.11+).
--
-- invitations.search_name and invitations.search_family hold the keys of
-- invite.Invitation.NameKeys: the full name and the family name in
-- invite.SearchKey's form (NULL when not set; at most 201 characters, 804
-- bytes). The package computes them on every write: LOWER() follows the
-- server's collation, not invite.SearchKey, and 0003's generated columns
-- name_key and family_key folded ASCII letters only. They are dropped,
-- with their indexes, for the new columns and indexes of the same names.
-- Migrate fills the columns in for the rows written before, from their
-- documents, after this statement and before it records the migration.
--
-- VARBINARY compares in byte order, like email_key: the search is a range
-- [prefix, next prefix) on each.
--
-- MySQL DDL commits implicitly, and MySQL has no ADD COLUMN IF NOT EXISTS:
-- as in 0003, the ALTER runs only while the column search_name is missing
-- (a statement chosen from information_schema, prepared and run on the
-- migration's connection). It is one statement, which InnoDB applies whole
-- or not at all; a Migrate interrupted in the fill-in starts it again.

SET @invite_0005 = IF((SELECT COUNT(*) FROM information_schema.columns WHERE table_schema = DATABASE()
        AND table_name = '{{prefix}}invitations' AND column_name = 'search_name') = 0,
    'ALTER TABLE {{prefix}}invitations
        DROP INDEX invitations_search_name,
        DROP INDEX invitations_search_family,
        DROP COLUMN name_key,
        DROP COLUMN family_key,
        ADD COLUMN search_name VARBINARY(1024) NULL,
        ADD COLUMN search_family VARBINARY(1024) NULL,
        ADD KEY invitations_search_name (tenant_id, search_name),
        ADD KEY invitations_search_family (tenant_id, search_family)',
    'DO 0');
PREPARE invite_0005 FROM @invite_0005;
EXECUTE invite_0005;
DEALLOCATE PREPARE invite_0005;
