-- 0003_filters: generated columns and indexes for List's and Count's
-- filters on what only the invitation's document holds (MySQL 8.0.16+,
-- MariaDB 10.11+).
--
-- Adds four STORED generated columns to {{prefix}}invitations, computed by
-- the database from doc on every write, whichever version of this package
-- wrote the row (at most 255 characters each, which VARBINARY(1024)
-- holds):
--
--   client_key    the client id (invite.Filter.ClientID).
--   template_key  the template key (invite.Filter.TemplateKey).
--   name_key      the full name: given and family name joined by a space,
--                 or whichever is set, ASCII letters lower-cased.
--   family_key    the family name, ASCII letters lower-cased.
--
-- and the indexes (tenant_id, client_key), (tenant_id, name_key),
-- (tenant_id, family_key) and (tenant_id, email_key). The last three serve
-- invite.Filter.Search, a prefix search that ignores the case of ASCII
-- letters: each is a range [prefix, next prefix) on one of them (an OR of
-- three index ranges; VARBINARY compares in byte order). The names are
-- lower-cased by replacing A-Z one letter at a time: LOWER() would fold
-- every Unicode letter (and does nothing to a binary string), while
-- invite.EmailKey, memstore and the other dialects fold ASCII letters
-- only. The role and group filters are checked on the tenant's rows the
-- other conditions select (JSON_CONTAINS).
--
-- MySQL DDL commits implicitly, and MySQL has no ADD COLUMN IF NOT EXISTS:
-- as in 0002, the ALTER runs only while the column name_key is missing (a
-- statement chosen from information_schema, prepared and run on the
-- migration's connection). It is one statement, which InnoDB applies whole
-- or not at all.

SET @invite_0003 = IF((SELECT COUNT(*) FROM information_schema.columns WHERE table_schema = DATABASE()
        AND table_name = '{{prefix}}invitations' AND column_name = 'name_key') = 0,
    'ALTER TABLE {{prefix}}invitations
        ADD COLUMN client_key VARBINARY(1024) AS (LEFT(JSON_UNQUOTE(JSON_EXTRACT(doc, ''$.client_id'')), 255)) STORED,
        ADD COLUMN template_key VARBINARY(1024) AS (LEFT(JSON_UNQUOTE(JSON_EXTRACT(doc, ''$.template_key'')), 255)) STORED,
        ADD COLUMN name_key VARBINARY(1024) AS (REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(LEFT(CASE WHEN JSON_UNQUOTE(JSON_EXTRACT(doc, ''$.family_name'')) IS NULL THEN JSON_UNQUOTE(JSON_EXTRACT(doc, ''$.given_name'')) WHEN JSON_UNQUOTE(JSON_EXTRACT(doc, ''$.given_name'')) IS NULL THEN JSON_UNQUOTE(JSON_EXTRACT(doc, ''$.family_name'')) ELSE CONCAT(JSON_UNQUOTE(JSON_EXTRACT(doc, ''$.given_name'')), '' '', JSON_UNQUOTE(JSON_EXTRACT(doc, ''$.family_name''))) END, 255), ''A'', ''a''), ''B'', ''b''), ''C'', ''c''), ''D'', ''d''), ''E'', ''e''), ''F'', ''f''), ''G'', ''g''), ''H'', ''h''), ''I'', ''i''), ''J'', ''j''), ''K'', ''k''), ''L'', ''l''), ''M'', ''m''), ''N'', ''n''), ''O'', ''o''), ''P'', ''p''), ''Q'', ''q''), ''R'', ''r''), ''S'', ''s''), ''T'', ''t''), ''U'', ''u''), ''V'', ''v''), ''W'', ''w''), ''X'', ''x''), ''Y'', ''y''), ''Z'', ''z'')) STORED,
        ADD COLUMN family_key VARBINARY(1024) AS (REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(LEFT(JSON_UNQUOTE(JSON_EXTRACT(doc, ''$.family_name'')), 255), ''A'', ''a''), ''B'', ''b''), ''C'', ''c''), ''D'', ''d''), ''E'', ''e''), ''F'', ''f''), ''G'', ''g''), ''H'', ''h''), ''I'', ''i''), ''J'', ''j''), ''K'', ''k''), ''L'', ''l''), ''M'', ''m''), ''N'', ''n''), ''O'', ''o''), ''P'', ''p''), ''Q'', ''q''), ''R'', ''r''), ''S'', ''s''), ''T'', ''t''), ''U'', ''u''), ''V'', ''v''), ''W'', ''w''), ''X'', ''x''), ''Y'', ''y''), ''Z'', ''z'')) STORED,
        ADD KEY invitations_client (tenant_id, client_key),
        ADD KEY invitations_search_name (tenant_id, name_key),
        ADD KEY invitations_search_family (tenant_id, family_key),
        ADD KEY invitations_search_email (tenant_id, email_key)',
    'DO 0');
PREPARE invite_0003 FROM @invite_0003;
EXECUTE invite_0003;
DEALLOCATE PREPARE invite_0003;
