-- 0005_search_keys: invite.Filter.Search's keys as columns, so that names
-- match whatever their case in every script (SQLite 3.35+).
--
-- invitations.search_name and invitations.search_family hold the keys of
-- invite.Invitation.NameKeys: the full name and the family name in
-- invite.SearchKey's form (NULL when not set). The package computes them
-- on every write: SQLite's lower() folds ASCII letters only, which is
-- what 0003's expressions of the document gave. Migrate fills them in for
-- the rows written before, from their documents, in the same transaction
-- as these statements.
--
-- TEXT compares in byte order (BINARY), like email_key: the search is a
-- range [prefix, next prefix) on each. 0003's indexes on the expressions
-- make way for indexes of the same names on the columns.

ALTER TABLE {{prefix}}invitations ADD COLUMN search_name TEXT;

ALTER TABLE {{prefix}}invitations ADD COLUMN search_family TEXT;

DROP INDEX {{prefix}}invitations_search_name;

DROP INDEX {{prefix}}invitations_search_family;

CREATE INDEX {{prefix}}invitations_search_name ON {{prefix}}invitations (tenant_id, search_name);

CREATE INDEX {{prefix}}invitations_search_family ON {{prefix}}invitations (tenant_id, search_family);
