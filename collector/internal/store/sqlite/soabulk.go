package sqlite

import (
	"context"
	"fmt"

	"github.com/annexa/annexa/collector/internal/store"
)

// ImportSoA validates every entry first, then writes the ones that change
// something in one transaction: a sheet with one bad row changes nothing.
// The current entries are read inside the transaction so that what
// counts as unchanged is decided against what is committed.
func (db *DB) ImportSoA(ctx context.Context, entries []store.SoAEntry) ([]store.SoAChange, error) {
	seen := make(map[string]bool, len(entries))
	for i := range entries {
		if err := entries[i].Validate(); err != nil {
			return nil, fmt.Errorf("import SoA: %s: %w", entries[i].ControlID, err)
		}
		if seen[entries[i].ControlID] {
			return nil, store.Errorf(store.EINVALID, "import SoA: %s is given twice; keep one entry per control", entries[i].ControlID)
		}
		seen[entries[i].ControlID] = true
	}
	now := db.now()
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("import SoA: %w", err)
	}
	defer tx.Rollback()
	current, err := readSoA(ctx, tx)
	if err != nil {
		return nil, err
	}
	changes, _ := store.SoAChanges(current, entries)
	for i := range changes {
		changes[i].New.SetAt = now.UTC()
		if err := putSoA(ctx, tx, now, changes[i].New); err != nil {
			return nil, fmt.Errorf("import SoA: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("import SoA: commit: %w", err)
	}
	return changes, nil
}
