package spool

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/annexa/annexa/evidence"
)

// crashEnv turns the test binary into the committing child of
// TestCrashSafety; its value is the spool's path.
const crashEnv = "ANNEXA_SPOOL_CRASH_CHILD"

// perCommit records go into each crash-test commit: three events, then one
// upsert of one of five subjects, so commit c holds seqs 4c+1..4c+4 and its
// checkpoint is c.
const perCommit = 4

func crashCommit(c int) []evidence.Record {
	recs := make([]evidence.Record, 0, perCommit)
	for i := range perCommit - 1 {
		recs = append(recs, event("e", fmt.Sprintf(`{"c":%d,"i":%d}`, c, i)))
	}
	return append(recs, upsert(fmt.Sprint("s", c%5), fmt.Sprintf(`{"c":%d}`, c)))
}

// ackPoint says through which seq the child acks after commit c, if at all:
// every seventh commit, everything up to three commits back.
func ackPoint(c int) (uint64, bool) {
	if c%7 != 0 || c < 3 {
		return 0, false
	}
	return uint64(perCommit * (c - 2)), true
}

// TestCrashChild is not a test on its own: TestCrashSafety runs the test
// binary with crashEnv set, and this commits until it is killed.
func TestCrashChild(t *testing.T) {
	path := os.Getenv(crashEnv)
	if path == "" {
		t.Skip("helper process for TestCrashSafety")
	}
	ctx := context.Background()
	sp, err := Open(path, Options{})
	if err != nil {
		fmt.Println("error", err)
		os.Exit(2)
	}
	c := 0
	if cp, err := sp.Checkpoint(ctx, "p"); err != nil {
		os.Exit(2)
	} else if cp != nil {
		n, _ := strconv.Atoi(string(cp))
		c = n + 1
	}
	for ; ; c++ {
		if err := sp.Commit(ctx, "p", crashCommit(c), []byte(strconv.Itoa(c))); err != nil {
			fmt.Println("error", err)
			os.Exit(2)
		}
		if through, ok := ackPoint(c); ok {
			if err := sp.Ack(ctx, through); err != nil {
				fmt.Println("error", err)
				os.Exit(2)
			}
		}
		if c%10 == 0 {
			fmt.Println("committed", c)
		}
	}
}

// TestCrashSafety kills a committing process at random moments and checks
// that what survives is consistent: SQLite's integrity check, counters
// matching rows, no sequence gap that coalescing or an ack does not
// explain, and a checkpoint that matches the last committed records.
func TestCrashSafety(t *testing.T) {
	rounds := 5
	if testing.Short() {
		rounds = 2
	}
	path := filepath.Join(t.TempDir(), "spool.db")
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	for round := range rounds {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), crashEnv+"="+path)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		lines := bufio.NewScanner(out)
		if !lines.Scan() {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("round %d: child said nothing", round)
		}
		if first := lines.Text(); len(first) < 9 || first[:9] != "committed" {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("round %d: child: %s", round, first)
		}
		go func() {
			for lines.Scan() {
			}
		}()
		time.Sleep(time.Duration(rng.IntN(150)) * time.Millisecond)
		if err := cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		cmd.Wait()
		last := verifyCrashSpool(t, path)
		t.Logf("round %d: killed after commit %d", round, last)
	}
}

func verifyCrashSpool(t *testing.T, path string) int {
	t.Helper()
	ctx := context.Background()
	sp, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	checkIntegrity(t, sp)
	cp, err := sp.Checkpoint(ctx, "p")
	if err != nil || cp == nil {
		t.Fatalf("checkpoint %q %v", cp, err)
	}
	k, err := strconv.Atoi(string(cp))
	if err != nil {
		t.Fatalf("checkpoint %q", cp)
	}
	st := stats(t, sp)
	if st.LastSeq != uint64(perCommit*(k+1)) {
		t.Fatalf("checkpoint says commit %d, but last seq is %d", k, st.LastSeq)
	}
	recs := all(t, sp)
	if len(recs) == 0 {
		t.Fatalf("commit %d: spool is empty, but acks never reach the last commits", k)
	}
	// The first record left is where the last ack stopped: a commit
	// boundary that the child really acked through.
	first := recs[0].Seq
	cmin := int((first - 1) / perCommit)
	if (first-1)%perCommit != 0 {
		t.Fatalf("first seq %d is not the start of a commit: a partial ack or commit", first)
	}
	if cmin > 0 {
		if through, ok := ackPoint(cmin + 2); !ok || through != first-1 || cmin+2 > k {
			t.Fatalf("first seq %d: no ack ends there (last commit %d)", first, k)
		}
	}
	want := map[uint64]string{}
	for c := cmin; c <= k; c++ {
		for i, r := range crashCommit(c) {
			// Only the latest upsert of each subject survives.
			if r.Op == evidence.OpUpsert && c <= k-5 {
				continue
			}
			want[uint64(perCommit*c+i+1)] = string(r.Attributes)
		}
	}
	if len(recs) != len(want) {
		t.Fatalf("commit %d: %d records, want %d (seqs %v)", k, len(recs), len(want), seqs(recs))
	}
	for _, r := range recs {
		w, ok := want[r.Seq]
		var got, exp any
		json.Unmarshal(r.Attributes, &got)
		json.Unmarshal([]byte(w), &exp)
		if !ok || fmt.Sprint(got) != fmt.Sprint(exp) {
			t.Fatalf("seq %d: got %s, want %s (present %v)", r.Seq, r.Attributes, w, ok)
		}
	}
	return k
}

// BenchmarkCommit measures committed records per second with every commit
// synced to disk, for single records (an event source) and batches of 100
// (a scan).
func BenchmarkCommit(b *testing.B) {
	for _, batch := range []int{1, 100} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			ctx := context.Background()
			sp, _ := tempSpool(b, Options{})
			attrs := `{"path":"/srv/ml/datasets/x","size_bytes":123456,"sha256":"` + fmt.Sprintf("%064x", 42) + `"}`
			recs := make([]evidence.Record, batch)
			const perOp = 1000
			b.ResetTimer()
			start := time.Now()
			n := 0
			for b.Loop() {
				for i := 0; i < perOp; i += batch {
					for j := range recs {
						recs[j] = event(fmt.Sprint("e", n), attrs)
						n++
					}
					if err := sp.Commit(ctx, "p", recs, []byte("cp")); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.ReportMetric(float64(n)/time.Since(start).Seconds(), "records/s")
		})
	}
}
