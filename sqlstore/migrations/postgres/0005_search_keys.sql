-- 0005_search_keys: invite.Filter.Search's keys as columns, so that names
-- match whatever their case in every script (PostgreSQL 14+).
--
-- invitations.search_name and invitations.search_family hold the keys of
-- invite.Invitation.NameKeys: the full name and the family name in
-- invite.SearchKey's form (NULL when not set). The package computes them
-- on every write: no database function folds case as invite.SearchKey
-- does on every dialect, which is what 0003's lower() of the document
-- could not give (it folded ASCII letters only). Migrate fills them in for
-- the rows written before, from their documents, in the same transaction
-- as these statements.
--
-- The columns compare in the "C" collation, byte order, like email_key:
-- the search is a range [prefix, next prefix) on each. 0003's indexes on
-- the expressions make way for indexes of the same names on the columns.

ALTER TABLE {{prefix}}invitations ADD COLUMN search_name text COLLATE "C", ADD COLUMN search_family text COLLATE "C";

DROP INDEX {{prefix}}invitations_search_name;

DROP INDEX {{prefix}}invitations_search_family;

CREATE INDEX {{prefix}}invitations_search_name ON {{prefix}}invitations (tenant_id, search_name);

CREATE INDEX {{prefix}}invitations_search_family ON {{prefix}}invitations (tenant_id, search_family);
