-- 0003_filters: indexes for List's and Count's filters on what only the
-- invitation's document holds (SQLite 3.35+).
--
-- Adds no column: the indexes are on expressions of doc, which SQLite
-- computes on every write. A query uses an expression index only when it
-- compares the very same expression: sqlstore/filter.go holds the same
-- text.
--
--   invitations_client          the client id (invite.Filter.ClientID).
--   invitations_search_name     the full name: given and family name joined
--                               by a space, or whichever is set.
--   invitations_search_family   the family name.
--   invitations_search_email    email_key (invite.EmailKey of the email).
--
-- The last three serve invite.Filter.Search, a prefix search that ignores
-- the case of ASCII letters: each is a range [prefix, next prefix) on one
-- of them (an OR of three index ranges). SQLite's lower() folds ASCII
-- letters only, as invite.EmailKey does, and TEXT compares in byte order
-- (BINARY). The role, group and template key filters are checked on the
-- tenant's rows the other conditions select.

CREATE INDEX {{prefix}}invitations_client ON {{prefix}}invitations (tenant_id, json_extract(doc, '$.client_id'));

CREATE INDEX {{prefix}}invitations_search_name ON {{prefix}}invitations (tenant_id, lower(CASE WHEN json_extract(doc, '$.family_name') IS NULL THEN json_extract(doc, '$.given_name') WHEN json_extract(doc, '$.given_name') IS NULL THEN json_extract(doc, '$.family_name') ELSE json_extract(doc, '$.given_name') || ' ' || json_extract(doc, '$.family_name') END));

CREATE INDEX {{prefix}}invitations_search_family ON {{prefix}}invitations (tenant_id, lower(json_extract(doc, '$.family_name')));

CREATE INDEX {{prefix}}invitations_search_email ON {{prefix}}invitations (tenant_id, email_key);
