package sqlite

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"strconv"

	"github.com/annexa/annexa/collector/internal/store"
)

// historyRow is one row of the append-only history.
type historyRow struct {
	ID         int64
	AgentID    string
	Seq        sql.NullInt64
	CauseSeq   sql.NullInt64
	Kind       string
	Subject    string
	Plugin     string
	Host       string
	Op         string
	ObservedAt string
	Attributes string
	ReceivedAt string
	PrevHash   string
	Hash       string
}

// writeField length-prefixes each field so that no two different rows
// encode to the same bytes (no "ab"+"c" == "a"+"bc").
func writeField(h hash.Hash, b []byte) {
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(len(b)))
	h.Write(n[:])
	h.Write(b)
}

func nullInt(n sql.NullInt64) []byte {
	if !n.Valid {
		return []byte("null")
	}
	return []byte(strconv.FormatInt(n.Int64, 10))
}

// rowHash is sha256(prev_hash || canonical row bytes). The row id is left
// out: the link to the previous hash already fixes each row's place, and
// removing, inserting or reordering rows breaks that link.
func rowHash(prev string, r *historyRow) string {
	h := sha256.New()
	h.Write([]byte(prev))
	for _, f := range [][]byte{
		[]byte(r.AgentID), nullInt(r.Seq), nullInt(r.CauseSeq), []byte(r.Kind), []byte(r.Subject),
		[]byte(r.Plugin), []byte(r.Host), []byte(r.Op), []byte(r.ObservedAt), []byte(r.Attributes), []byte(r.ReceivedAt),
	} {
		writeField(h, f)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// appendHistory links the row to the chain and inserts it. The write
// handle has one connection, so no other writer can append in between.
func (a *applier) appendHistory(ctx context.Context, r *historyRow) error {
	if a.prevHash == nil {
		var prev string
		err := a.tx.QueryRowContext(ctx, `SELECT hash FROM history ORDER BY id DESC LIMIT 1`).Scan(&prev)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("read chain head: %w", err)
		}
		a.prevHash = &prev
	}
	r.PrevHash = *a.prevHash
	r.Hash = rowHash(r.PrevHash, r)
	if _, err := a.tx.ExecContext(ctx, `INSERT INTO history
		(agent_id, seq, cause_seq, kind, subject, plugin, host, op, observed_at, attributes, received_at, prev_hash, hash)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		r.AgentID, r.Seq, r.CauseSeq, r.Kind, r.Subject, r.Plugin, r.Host, r.Op, r.ObservedAt, r.Attributes, r.ReceivedAt,
		r.PrevHash, r.Hash); err != nil {
		return fmt.Errorf("append history: %w", err)
	}
	*a.prevHash = r.Hash
	return nil
}

// Verify walks the whole history, then the governance log, in order and
// recomputes every hash. It
// returns the number of rows checked, and a *store.ChainError for the first
// row whose link or content does not match.
func (db *DB) Verify(ctx context.Context) (int, error) {
	tx, err := db.read.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return 0, fmt.Errorf("verify: %w", err)
	}
	defer tx.Rollback()
	rows, err := tx.QueryContext(ctx, `SELECT id, agent_id, seq, cause_seq, kind, subject, plugin, host, op,
		observed_at, attributes, received_at, prev_hash, hash FROM history ORDER BY id`)
	if err != nil {
		return 0, fmt.Errorf("verify: %w", err)
	}
	defer rows.Close()
	prev, n := "", 0
	for rows.Next() {
		var r historyRow
		if err := rows.Scan(&r.ID, &r.AgentID, &r.Seq, &r.CauseSeq, &r.Kind, &r.Subject, &r.Plugin, &r.Host, &r.Op,
			&r.ObservedAt, &r.Attributes, &r.ReceivedAt, &r.PrevHash, &r.Hash); err != nil {
			return n, &store.ChainError{RowID: r.ID, Reason: fmt.Sprintf("cannot be read: %v", err)}
		}
		if r.PrevHash != prev {
			return n, &store.ChainError{RowID: r.ID, Reason: "prev_hash does not match the hash of the row before it: a row was removed, inserted or reordered"}
		}
		if want := rowHash(prev, &r); r.Hash != want {
			return n, &store.ChainError{RowID: r.ID, Reason: "content does not match its hash: the row was changed after it was written"}
		}
		prev = r.Hash
		n++
	}
	if err := rows.Err(); err != nil {
		return n, fmt.Errorf("verify: %w", err)
	}
	g, err := verifyGovernance(ctx, tx)
	return n + g, err
}
