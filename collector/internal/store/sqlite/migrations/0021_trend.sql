-- What the web UI shows over time: control counts by status per framework
-- after each evaluation the collector records, and each control's status
-- changes (a row only when the status differs from the previous one).

CREATE TABLE trend_points (
	at        TEXT NOT NULL,
	framework TEXT NOT NULL,
	counts    TEXT NOT NULL, -- JSON object: status -> number of controls
	PRIMARY KEY (framework, at)
);

CREATE INDEX trend_points_at ON trend_points (at);

CREATE TABLE control_status (
	control_id TEXT NOT NULL,
	since      TEXT NOT NULL,
	status     TEXT NOT NULL,
	PRIMARY KEY (control_id, since)
);
