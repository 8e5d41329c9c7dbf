-- A change clock for the kept evaluation of serve: every write to a row of
-- current or agents takes the next value of the clock and stamps the row
-- with it, so that a reader holding the clock value of its last read asks
-- for exactly the rows changed since (deletions included: current keeps
-- deleted rows, flagged). Triggers do the stamping, so that no writer,
-- present or future, can forget it.

CREATE TABLE change_clock (
	id    INTEGER PRIMARY KEY CHECK (id = 1),
	value INTEGER NOT NULL
);
INSERT INTO change_clock (id, value) VALUES (1, 0);

ALTER TABLE current ADD COLUMN change_seq INTEGER NOT NULL DEFAULT 0;
ALTER TABLE agents ADD COLUMN change_seq INTEGER NOT NULL DEFAULT 0;
CREATE INDEX current_change ON current (change_seq);
CREATE INDEX agents_change ON agents (change_seq);

CREATE TRIGGER current_change_insert AFTER INSERT ON current BEGIN
	UPDATE change_clock SET value = value + 1 WHERE id = 1;
	UPDATE current SET change_seq = (SELECT value FROM change_clock WHERE id = 1) WHERE rowid = NEW.rowid;
END;

-- Every column but change_seq, so that stamping does not fire it again.
CREATE TRIGGER current_change_update AFTER UPDATE OF agent_id, kind, subject, plugin, host, op, observed_at,
	attributes, content_hash, seq, deleted, updated_at ON current BEGIN
	UPDATE change_clock SET value = value + 1 WHERE id = 1;
	UPDATE current SET change_seq = (SELECT value FROM change_clock WHERE id = 1) WHERE rowid = NEW.rowid;
END;

CREATE TRIGGER agents_change_insert AFTER INSERT ON agents BEGIN
	UPDATE change_clock SET value = value + 1 WHERE id = 1;
	UPDATE agents SET change_seq = (SELECT value FROM change_clock WHERE id = 1) WHERE rowid = NEW.rowid;
END;

CREATE TRIGGER agents_change_update AFTER UPDATE OF id, host, agent_version, credential_hash, enrolled_at,
	revoked_at, last_seen_at, acked_through, status_json ON agents BEGIN
	UPDATE change_clock SET value = value + 1 WHERE id = 1;
	UPDATE agents SET change_seq = (SELECT value FROM change_clock WHERE id = 1) WHERE rowid = NEW.rowid;
END;
