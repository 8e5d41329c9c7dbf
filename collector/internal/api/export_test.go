package api

import (
	"database/sql"

	"github.com/annexa/annexa/collector/internal/store/sqlite"
)

// sqlOpen opens a second, read-only handle on the test store's file.
func sqlOpen(db *sqlite.DB) (*sql.DB, error) {
	return sql.Open("sqlite3", "file:"+db.Path()+"?mode=ro")
}
