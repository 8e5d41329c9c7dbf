-- Human decisions about controls. Rows are never deleted: revocation sets
-- revoked_at, expiry is judged at evaluation time, and every change is
-- also an entry of governance_log, which is hash-chained like history.

CREATE TABLE exceptions (
	id              TEXT PRIMARY KEY,
	check_id        TEXT NOT NULL,
	subject_pattern TEXT NOT NULL,
	host_pattern    TEXT NOT NULL DEFAULT '',
	owner           TEXT NOT NULL,
	approver        TEXT NOT NULL,
	reason          TEXT NOT NULL,
	created_by      TEXT NOT NULL,
	created_at      TEXT NOT NULL,
	expires_at      TEXT NOT NULL,
	revoked_at      TEXT,
	revoked_by      TEXT
);

CREATE TABLE attestations (
	id           TEXT PRIMARY KEY,
	control_id   TEXT NOT NULL,
	document_ref TEXT NOT NULL,
	author       TEXT NOT NULL,
	note         TEXT NOT NULL DEFAULT '',
	created_by   TEXT NOT NULL,
	created_at   TEXT NOT NULL,
	expires_at   TEXT NOT NULL,
	revoked_at   TEXT,
	revoked_by   TEXT
);

CREATE TABLE soa (
	control_id    TEXT PRIMARY KEY,
	applicable    INTEGER NOT NULL,
	justification TEXT NOT NULL,
	author        TEXT NOT NULL,
	set_at        TEXT NOT NULL
);

CREATE TABLE governance_log (
	id        INTEGER PRIMARY KEY AUTOINCREMENT,
	at        TEXT NOT NULL,
	actor     TEXT NOT NULL,
	action    TEXT NOT NULL,
	ref       TEXT NOT NULL,
	detail    TEXT NOT NULL,
	prev_hash TEXT NOT NULL,
	hash      TEXT NOT NULL
);

CREATE TRIGGER governance_log_no_update BEFORE UPDATE ON governance_log
BEGIN SELECT RAISE(ABORT, 'governance_log is append-only'); END;
CREATE TRIGGER governance_log_no_delete BEFORE DELETE ON governance_log
BEGIN SELECT RAISE(ABORT, 'governance_log is append-only'); END;
