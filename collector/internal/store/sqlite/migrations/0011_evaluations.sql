-- Full evaluation passes: one row each, with counts per framework and
-- status for trends, and one status_changes row per control whose status
-- differs from the pass before.

CREATE TABLE evaluations (
	id              INTEGER PRIMARY KEY AUTOINCREMENT,
	at              TEXT NOT NULL,
	catalog_version TEXT NOT NULL,
	counts          TEXT NOT NULL
);

CREATE INDEX evaluations_at ON evaluations (at);

CREATE TABLE status_changes (
	control_id    TEXT NOT NULL,
	evaluation_id INTEGER NOT NULL REFERENCES evaluations(id),
	status        TEXT NOT NULL,
	since         TEXT NOT NULL,
	PRIMARY KEY (control_id, evaluation_id)
);
