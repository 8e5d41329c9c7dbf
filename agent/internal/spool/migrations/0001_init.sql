-- The outbox. seq is the agent's sequence number and the rowid; it is
-- handed out from state.last_seq, never from MAX(seq), so a number is not
-- reused after coalescing or an ack removes the highest row.
CREATE TABLE records (
	seq          INTEGER PRIMARY KEY,
	-- source is the plugin the record was committed for: the coalescing key,
	-- which may differ from the record's own plugin field.
	source       TEXT    NOT NULL,
	kind         TEXT    NOT NULL,
	schema       INTEGER NOT NULL,
	subject      TEXT    NOT NULL,
	op           TEXT    NOT NULL,
	observed_at  TEXT    NOT NULL,
	attributes   BLOB    NOT NULL,
	host         TEXT    NOT NULL,
	plugin       TEXT    NOT NULL,
	committed_at INTEGER NOT NULL,
	size         INTEGER NOT NULL
) STRICT;

-- Only state records coalesce, so events stay out of the index.
CREATE INDEX records_state ON records (source, kind, subject) WHERE op <> 'event';

-- Rows the collector refused for good. Kept and counted, so an operator
-- can see and export what did not arrive.
CREATE TABLE quarantine (
	seq            INTEGER PRIMARY KEY,
	source         TEXT    NOT NULL,
	kind           TEXT    NOT NULL,
	schema         INTEGER NOT NULL,
	subject        TEXT    NOT NULL,
	op             TEXT    NOT NULL,
	observed_at    TEXT    NOT NULL,
	attributes     BLOB    NOT NULL,
	host           TEXT    NOT NULL,
	plugin         TEXT    NOT NULL,
	committed_at   INTEGER NOT NULL,
	size           INTEGER NOT NULL,
	reason         TEXT    NOT NULL,
	quarantined_at INTEGER NOT NULL
) STRICT;

CREATE TABLE checkpoints (
	plugin     TEXT PRIMARY KEY,
	data       BLOB    NOT NULL,
	updated_at INTEGER NOT NULL
) STRICT;

-- One row of counters, changed in the same transaction as the rows they
-- count, so the size cap costs no scan.
CREATE TABLE state (
	id              INTEGER PRIMARY KEY CHECK (id = 1),
	last_seq        INTEGER NOT NULL,
	records         INTEGER NOT NULL,
	bytes           INTEGER NOT NULL,
	quarantined     INTEGER NOT NULL,
	quarantine_bytes INTEGER NOT NULL,
	last_shipped_at INTEGER NOT NULL
) STRICT;
INSERT INTO state VALUES (1, 0, 0, 0, 0, 0, 0);

CREATE TABLE meta (
	key   TEXT PRIMARY KEY,
	value TEXT NOT NULL
) STRICT;
