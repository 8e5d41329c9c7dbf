package datasets

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/annexa/annexa/plugins/sdk"
)

// deliveryFile records, in the state folder, what the agent was sent:
// the generation of the last collection, the last full resend, and the
// digest of every dataset's attributes as last sent.
const deliveryFile = "delivery.json"

// defaultResendEvery is resend_every's default: a collector that lost
// evidence (restored from a backup) has it again within half a day, and
// no dataset's record is older than the collector's default freshness
// window (24 h) when it is next sent.
const defaultResendEvery = 12 * time.Hour

// delivery is the content of deliveryFile.
type delivery struct {
	// Generation numbers every collection that writes the state; the
	// collection checkpoints it last.
	Generation int64 `json:"generation"`
	// BasisNs is the start of the last full collection that sent every
	// dataset, 0 before the first; Settings the settings print then.
	BasisNs  int64  `json:"basis_ns"`
	Settings string `json:"settings"`
	// Sent maps a dataset path to the digest of its attributes as last
	// sent (attrsDigest). A dataset that was not sent is not in it.
	Sent map[string]string `json:"sent"`
}

// settingsPrint fingerprints the settings: a dataset a new setting puts
// out of scope (a root dropped, an exclude added) gets no delete, and only
// a full collection that sends everything retires it.
func (p *Plugin) settingsPrint() string {
	b, _ := json.Marshal(p.set)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// attrsDigest is the digest of a dataset's attributes exactly as they are
// sent. Comparing it, rather than the files' stats, covers everything the
// evidence takes from outside the dataset's files (owner names from the
// user database, classification from the settings, the plugin's version).
func attrsDigest(a *Attributes) (string, error) {
	b, err := json.Marshal(a)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), nil
}

// loadDelivery reads deliveryFile. A missing or damaged one starts
// afresh: generation 0 and no basis, so the next full collection sends
// everything.
func (p *Plugin) loadDelivery() *delivery {
	d := &delivery{Sent: map[string]string{}}
	if p.stateDir == "" {
		return d
	}
	b, err := os.ReadFile(filepath.Join(p.stateDir, deliveryFile))
	if errors.Is(err, fs.ErrNotExist) {
		return d
	}
	var got delivery
	if err == nil {
		err = json.Unmarshal(b, &got)
	}
	if err == nil && (got.Generation < 0 || got.BasisNs < 0) {
		err = errors.New("negative generation or basis")
	}
	if err != nil {
		p.log.Warn("delivery record unreadable; the next full collection sends every dataset", "err", err)
		return d
	}
	if got.Sent == nil {
		got.Sent = map[string]string{}
	}
	return &got
}

func (p *Plugin) saveDelivery(d *delivery) error {
	b, err := json.Marshal(d)
	if err != nil {
		return err
	}
	if err := sdk.WriteFileAtomic(filepath.Join(p.stateDir, deliveryFile), b); err != nil {
		return fmt.Errorf("save delivery record: %w", err)
	}
	return nil
}

// begin decides whether a full collection may confirm unchanged datasets
// rather than send them (c.delta), and numbers the collection. Every
// collection that writes the state takes the next generation number,
// stored before anything is sent and checkpointed after everything is:
// the checkpoint the agent hands back equals the stored number only if
// the agent committed every record of every collection so far. Anything
// else (a collection cut short, a lost spool, a new agent identity,
// collect --once, a lost state folder) and the full collection sends
// every dataset again, and becomes the basis later ones confirm against.
// It returns 0 when nothing is to be checkpointed (no state to write).
func (p *Plugin) begin(c *collection, req sdk.Request) (next int64) {
	if p.stateDir == "" {
		return 0
	}
	d := p.loadDelivery()
	if sdk.ParseGenerationCheckpoint(Name, req.Checkpoint) != d.Generation {
		// The agent lacks something sent since the last full resend (or
		// the state is not the one it was sent from): what Sent says may
		// be wrong until everything is sent again, whatever collections
		// come in between.
		d.BasisNs = 0
	}
	start := time.Now()
	settings := p.settingsPrint()
	c.delta = req.Full && req.AcceptsUnchanged && d.Generation > 0 && d.BasisNs > 0 &&
		start.Sub(time.Unix(0, d.BasisNs)) < p.set.resendEvery && d.Settings == settings
	d.Generation++
	if req.Full && !c.delta {
		// Everything is sent: what was sent before no longer counts.
		d.BasisNs, d.Settings, d.Sent = start.UnixNano(), settings, map[string]string{}
	}
	if err := p.saveDelivery(d); err != nil {
		p.log.Warn("cannot number the collection; every dataset is sent", "err", err)
		c.delta = false
		return 0
	}
	c.deliv = d
	return d.Generation
}

// deleteGone sends a delete, in a confirming full collection, for every
// dataset last sent that this one neither found nor could not look at.
func (c *collection) deleteGone() error {
	for k := range c.deliv.Sent {
		if c.upserted[k] || c.unsure[k] {
			continue
		}
		if err := c.out.Emit(sdk.Delete(Kind, "dataset:"+k)); err != nil {
			return fmt.Errorf("emit delete of %s: %w", k, err)
		}
		c.deleted = append(c.deleted, k)
	}
	return nil
}

// finish records what this collection sent and, if all of it was, closes
// it with its generation and, when it confirmed datasets, with that.
func (p *Plugin) finish(c *collection, next int64, err error) error {
	if c.deliv == nil {
		return err
	}
	for k, h := range c.sent {
		c.deliv.Sent[k] = h
	}
	for _, k := range c.deleted {
		delete(c.deliv.Sent, k)
	}
	// Saved even after an error: the checkpoint is then not sent, so the
	// next full collection resends everything whatever this says.
	if serr := p.saveDelivery(c.deliv); serr != nil {
		p.log.Warn("cannot record what was sent; the next full collection sends every dataset", "err", serr)
		return err
	}
	if err != nil {
		return err
	}
	if err := c.out.Checkpoint(sdk.GenerationCheckpoint(Name, next)); err != nil {
		return err
	}
	if c.delta {
		return sdk.ReportUnchanged(c.out, time.Unix(0, c.deliv.BasisNs), c.unchanged)
	}
	return nil
}
