-- Times are TEXT in a fixed-width UTC form (2006-01-02T15:04:05.000000000Z)
-- so that string comparison is time comparison.

CREATE TABLE agents (
	id              TEXT PRIMARY KEY,
	host            TEXT NOT NULL,
	agent_version   TEXT NOT NULL DEFAULT '',
	credential_hash TEXT NOT NULL,
	enrolled_at     TEXT NOT NULL,
	revoked_at      TEXT,
	last_seen_at    TEXT,
	acked_through   INTEGER NOT NULL DEFAULT 0,
	status_json     TEXT
);

CREATE TABLE tokens (
	hash       TEXT PRIMARY KEY,
	created_at TEXT NOT NULL,
	expires_at TEXT NOT NULL,
	uses_left  INTEGER NOT NULL CHECK (uses_left >= 0)
);

CREATE TABLE current (
	agent_id     TEXT NOT NULL REFERENCES agents(id),
	kind         TEXT NOT NULL,
	subject      TEXT NOT NULL,
	plugin       TEXT NOT NULL DEFAULT '',
	host         TEXT NOT NULL DEFAULT '',
	op           TEXT NOT NULL,
	observed_at  TEXT NOT NULL,
	attributes   TEXT NOT NULL,
	content_hash TEXT NOT NULL,
	seq          INTEGER NOT NULL,
	deleted      INTEGER NOT NULL DEFAULT 0,
	updated_at   TEXT NOT NULL,
	PRIMARY KEY (agent_id, kind, subject)
);

-- scan.complete deletes by (agent, plugin, kind) among live rows.
CREATE INDEX current_scope ON current (agent_id, plugin, kind) WHERE deleted = 0;

CREATE TABLE history (
	id          INTEGER PRIMARY KEY AUTOINCREMENT,
	agent_id    TEXT NOT NULL REFERENCES agents(id),
	-- NULL for rows the collector derives itself (deletions by scan.complete).
	seq         INTEGER,
	cause_seq   INTEGER,
	kind        TEXT NOT NULL,
	subject     TEXT NOT NULL,
	plugin      TEXT NOT NULL DEFAULT '',
	host        TEXT NOT NULL DEFAULT '',
	op          TEXT NOT NULL,
	observed_at TEXT NOT NULL,
	attributes  TEXT NOT NULL,
	received_at TEXT NOT NULL,
	prev_hash   TEXT NOT NULL,
	hash        TEXT NOT NULL
);

CREATE UNIQUE INDEX history_agent_seq ON history (agent_id, seq) WHERE seq IS NOT NULL;
CREATE INDEX history_subject ON history (agent_id, kind, subject);
