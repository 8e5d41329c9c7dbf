-- A change clock for the kept evaluation of serve: every transaction that
-- writes rows of current or agents takes the next value of the clock and
-- stamps the rows with it, so that a reader holding the clock value of its
-- last read asks for exactly the rows changed since (deletions included:
-- current keeps deleted rows, flagged).
--
-- Ingest, the only writer of current, stamps its rows in the statements it
-- runs anyway (a test checks that every statement writing current sets
-- change_seq): triggers there would be compiled into every statement of
-- every batch, a third more CPU per record. Agents are written rarely, by
-- several methods, so triggers stamp what a writer left unstamped.

CREATE TABLE change_clock (
	id    INTEGER PRIMARY KEY CHECK (id = 1),
	value INTEGER NOT NULL
);
INSERT INTO change_clock (id, value) VALUES (1, 0);

ALTER TABLE current ADD COLUMN change_seq INTEGER NOT NULL DEFAULT 0;
ALTER TABLE agents ADD COLUMN change_seq INTEGER NOT NULL DEFAULT 0;
CREATE INDEX current_change ON current (change_seq);
CREATE INDEX agents_change ON agents (change_seq);

CREATE TRIGGER agents_change_insert AFTER INSERT ON agents WHEN NEW.change_seq = 0 BEGIN
	UPDATE change_clock SET value = value + 1 WHERE id = 1;
	UPDATE agents SET change_seq = (SELECT value FROM change_clock WHERE id = 1) WHERE rowid = NEW.rowid;
END;

CREATE TRIGGER agents_change_update AFTER UPDATE OF id, host, agent_version, credential_hash, enrolled_at,
	revoked_at, last_seen_at, acked_through, status_json ON agents WHEN NEW.change_seq = OLD.change_seq BEGIN
	UPDATE change_clock SET value = value + 1 WHERE id = 1;
	UPDATE agents SET change_seq = (SELECT value FROM change_clock WHERE id = 1) WHERE rowid = NEW.rowid;
END;
