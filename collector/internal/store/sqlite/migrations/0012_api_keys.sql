-- Credentials for the governance API (exceptions, attestations, SoA).
CREATE TABLE api_keys (
	id          TEXT PRIMARY KEY,
	name        TEXT NOT NULL,
	role        TEXT NOT NULL CHECK (role IN ('admin', 'auditor')),
	secret_hash TEXT NOT NULL,
	created_at  TEXT NOT NULL,
	revoked_at  TEXT
);
