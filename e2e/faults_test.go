package e2e

import (
	"math/rand/v2"
	"net/http"
	"testing"
	"time"

	"github.com/annexa/annexa/internal/faultproxy"
)

// (c) A proxy between agent and collector resets connections (before and
// after the collector stored the batch), answers 500, 503 and 429 with
// Retry-After, and stalls past the client's timeout. The store still ends
// as a clean run leaves it.
func TestDeliveryHostileNetwork(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	root := datasetTree(t)
	c := newCollector(t, "")
	c.start()
	// Enrollment passes; after it, the first ingest requests meet every
	// fault once, in order, and then four in ten fail at random.
	seed := uint64(time.Now().UnixNano())
	t.Logf("fault seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 7))
	schedule := []faultproxy.Fault{
		faultproxy.Reset, faultproxy.ResetAfterForward, faultproxy.Error500,
		faultproxy.Unavailable503, faultproxy.TooMany429, faultproxy.Stall,
	}
	ingest := 0
	proxy, err := faultproxy.New(c.url, faultproxy.Options{
		RetryAfter: time.Second,
		StallFor:   8 * time.Second,
		// Decide is called under the proxy's lock, one request at a time.
		Decide: func(_ int, r *http.Request) faultproxy.Fault {
			if r.URL.Path != "/v1/ingest" {
				return faultproxy.Pass
			}
			ingest++
			switch {
			case ingest <= len(schedule):
				return schedule[ingest-1]
			case rng.Float64() < 0.4:
				return faultproxy.AllFaults[rng.IntN(len(faultproxy.AllFaults))]
			}
			return faultproxy.Pass
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer proxy.Close()

	a := newAgent(t, proxy.URL(), counterPlugin(counterEvents), datasetsPlugin(root))
	a.enroll(&collector{t: t, data: c.data, url: proxy.URL()})
	a.start()
	waitFor(t, "every event through the faulty network", 180*time.Second, func() bool { return eventsArrived(c) == counterEvents })
	waitForDatasets(t, c, "the datasets through the faulty network")
	a.stop()
	counts := proxy.Counts()
	t.Logf("proxy: %d requests, faults %v", proxy.Requests(), counts)
	for _, f := range []faultproxy.Fault{faultproxy.Reset, faultproxy.ResetAfterForward, faultproxy.Error500, faultproxy.Unavailable503, faultproxy.TooMany429, faultproxy.Stall} {
		if counts[f] == 0 {
			t.Errorf("fault %s never happened; the test proved nothing about it", f)
		}
	}
	assertExactlyOnce(t, c, counterEvents)
	compareWithClean(t, c, cleanRun(t, root))
}
