package sqlite

import (
	"context"
	"testing"
	"time"

	"github.com/annexa/annexa/collector/internal/store"
	"github.com/annexa/annexa/evidence"
)

func TestUsersAndSessions(t *testing.T) {
	ctx := context.Background()
	db := openTest(t)
	u := store.User{Name: "lea", Role: store.RoleAdmin, PasswordHash: "$2a$fake"}
	if err := db.AddUser(ctx, u, false); err != nil {
		t.Fatal(err)
	}
	if err := db.AddUser(ctx, u, false); store.ErrorCode(err) != store.ECONFLICT {
		t.Fatalf("second add: got %v, want conflict", err)
	}
	if err := db.AddUser(ctx, store.User{Name: "x", Role: "root", PasswordHash: "h"}, false); store.ErrorCode(err) != store.EINVALID {
		t.Fatalf("bad role: got %v", err)
	}
	now := time.Date(2026, 11, 29, 6, 0, 0, 0, time.UTC)
	s := store.Session{TokenHash: "t1", User: "lea", CSRF: "c1", CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
	if err := db.CreateSession(ctx, s); err != nil {
		t.Fatal(err)
	}
	got, err := db.Session(ctx, "t1", now.Add(time.Minute))
	if err != nil || got.Role != store.RoleAdmin || got.CSRF != "c1" || got.User != "lea" {
		t.Fatalf("session: %+v %v", got, err)
	}
	if _, err := db.Session(ctx, "t1", now.Add(2*time.Hour)); store.ErrorCode(err) != store.ENOTFOUND {
		t.Fatalf("expired session: got %v", err)
	}
	// Replacing the user (new role) ends its sessions: no old rights linger.
	if err := db.AddUser(ctx, store.User{Name: "lea", Role: store.RoleAuditor, PasswordHash: "$2a$new"}, true); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Session(ctx, "t1", now.Add(time.Minute)); store.ErrorCode(err) != store.ENOTFOUND {
		t.Fatalf("session after replace: got %v", err)
	}
	if got, _ := db.User(ctx, "lea"); got.Role != store.RoleAuditor || got.PasswordHash != "$2a$new" {
		t.Fatalf("replaced user: %+v", got)
	}
	if err := db.CreateSession(ctx, store.Session{TokenHash: "t2", User: "lea", CSRF: "c", CreatedAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if err := db.DeleteSession(ctx, "t2"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Session(ctx, "t2", now); store.ErrorCode(err) != store.ENOTFOUND {
		t.Fatalf("deleted session: got %v", err)
	}
}

func TestSubjectHistory(t *testing.T) {
	ctx := context.Background()
	db := openTest(t)
	enroll(t, db, "a1")
	at := time.Date(2026, 11, 29, 6, 0, 0, 0, time.UTC)
	ingest(t, db, batch("a1",
		rec(1, "dataset", "dataset:/d", evidence.OpUpsert, at, `{"size_bytes":1}`),
		rec(2, "dataset", "dataset:/d", evidence.OpUpsert, at.Add(time.Minute), `{"size_bytes":2}`),
		rec(3, "dataset", "dataset:/other", evidence.OpUpsert, at, `{}`)))
	h, err := db.SubjectHistory(ctx, "a1", "dataset", "dataset:/d", 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(h) != 2 || h[0].Seq != 2 || string(h[0].Attributes) != `{"size_bytes":2}` || h[1].Seq != 1 {
		t.Fatalf("history: %+v", h)
	}
}
