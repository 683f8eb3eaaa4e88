-- 0003_filters: indexes for List's and Count's filters on what only the
-- invitation's document holds (PostgreSQL 14+, CockroachDB, YugabyteDB).
--
-- Adds no column: the indexes are on expressions of doc, which the
-- database computes on every write, whichever version of this package
-- wrote the row. A query uses an expression index only when it compares
-- the very same expression: sqlstore/filter.go holds the same text.
--
--   invitations_client          the client id (invite.Filter.ClientID), over
--                               the rows that have one.
--   invitations_search_name     the full name: given and family name joined
--                               by a space, or whichever is set.
--   invitations_search_family   the family name.
--   invitations_search_email    email_key (invite.EmailKey of the email).
--
-- The last three serve invite.Filter.Search, a prefix search that ignores
-- the case of ASCII letters: each is a range [prefix, next prefix) in byte
-- order on one of them (an OR of three index ranges). The names are
-- lower-cased under the "C" collation, where lower() folds ASCII letters
-- only, whatever the database's locale, as invite.EmailKey does (and as
-- memstore and the other dialects do), and compared in that collation's
-- byte order, as is email_key. The role, group and template key filters
-- are checked on the tenant's rows the other conditions select.

CREATE INDEX {{prefix}}invitations_client ON {{prefix}}invitations (tenant_id, (doc->>'client_id'))
    WHERE (doc->>'client_id') IS NOT NULL;

CREATE INDEX {{prefix}}invitations_search_name ON {{prefix}}invitations (tenant_id, (lower((CASE WHEN doc->>'family_name' IS NULL THEN doc->>'given_name' WHEN doc->>'given_name' IS NULL THEN doc->>'family_name' ELSE (doc->>'given_name') || ' ' || (doc->>'family_name') END) COLLATE "C")));

CREATE INDEX {{prefix}}invitations_search_family ON {{prefix}}invitations (tenant_id, (lower((doc->>'family_name') COLLATE "C")));

CREATE INDEX {{prefix}}invitations_search_email ON {{prefix}}invitations (tenant_id, email_key COLLATE "C");
