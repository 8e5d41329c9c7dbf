package controls

import (
	"cmp"
	"encoding/json"
	"fmt"
	"slices"
	"time"
)

const datasetsPlugin = "datasets"

func init() {
	RegisterCheck(Check{ID: "inventory.datasets.fresh", Title: "Every reporting host has a fresh, healthy dataset inventory", Eval: inventoryDatasetsFresh})
	RegisterCheck(Check{ID: "datasets.not_world_readable", Title: "No dataset is readable by every user on its host", Eval: datasetsNotWorldReadable})
	RegisterControl(Control{Framework: "iso27001-2022", ID: "5.9", Title: "Inventory of information and other associated assets",
		Checks: []string{"inventory.datasets.fresh"}})
	RegisterControl(Control{Framework: "iso27001-2022", ID: "8.3", Title: "Information access restriction",
		Checks: []string{"datasets.not_world_readable"}})
}

// unhealthy states mean the plugin's silence proves nothing.
var unhealthy = map[string]bool{"crashed": true, "timed_out": true, "degraded": true}

type hostInventory struct {
	scan   *Record // latest scan.complete of the datasets plugin
	health *Record // plugin.health of the datasets plugin
	state  string
}

// inventories finds, per agent, the datasets plugin's last scan and health.
func (in *Input) inventories() map[string]*hostInventory {
	out := map[string]*hostInventory{}
	get := func(id string) *hostInventory {
		if out[id] == nil {
			out[id] = &hostInventory{}
		}
		return out[id]
	}
	for i := range in.Records {
		r := &in.Records[i]
		switch r.Kind {
		case "scan.complete":
			var a struct {
				Plugin string `json:"plugin"`
			}
			if json.Unmarshal(r.Attributes, &a) != nil || a.Plugin != datasetsPlugin {
				continue
			}
			hi := get(r.AgentID)
			if hi.scan == nil || r.ObservedAt.After(hi.scan.ObservedAt) {
				hi.scan = r
			}
		case "plugin.health":
			var a struct {
				Plugin string `json:"plugin"`
				State  string `json:"state"`
			}
			if json.Unmarshal(r.Attributes, &a) != nil {
				continue
			}
			if a.Plugin != datasetsPlugin && r.Subject != "plugin:"+datasetsPlugin {
				continue
			}
			hi := get(r.AgentID)
			if hi.health == nil || r.ObservedAt.After(hi.health.ObservedAt) {
				hi.health, hi.state = r, a.State
			}
		}
	}
	return out
}

func inventoryDatasetsFresh(in *Input) CheckResult {
	hosts := in.reporting()
	inv := in.inventories()
	res := CheckResult{Applicable: len(hosts)}
	stale, sick := 0, 0
	for _, a := range hosts {
		hi := inv[a.ID]
		if hi == nil {
			hi = &hostInventory{}
		}
		if hi.scan != nil {
			res.Evidence = append(res.Evidence, evidenceOf(hi.scan))
		}
		if hi.health != nil {
			res.Evidence = append(res.Evidence, evidenceOf(hi.health))
		}
		isSick := unhealthy[hi.state]
		isStale := hi.scan == nil || !in.fresh(hi.scan.ObservedAt)
		if !isSick && !isStale {
			res.Passing++
			continue
		}
		var lastScan, state any
		if hi.scan != nil {
			lastScan = hi.scan.ObservedAt.UTC().Format(time.RFC3339)
		}
		if hi.health != nil {
			state = hi.state
		}
		res.Failing = append(res.Failing, Subject{Subject: "host:" + a.Host, Host: a.Host, AgentID: a.ID,
			Observed: map[string]any{"last_scan": lastScan, "plugin_state": state}})
		// A sick plugin explains a missing scan: that is missing evidence,
		// not a missing inventory.
		if isSick {
			sick++
		} else {
			stale++
		}
	}
	switch {
	case len(hosts) == 0:
		res.Status = InsufficientEvidence
		res.Explanation = fmt.Sprintf("No host has reported within %s, so there is no inventory to judge.", in.Options.Freshness)
	case stale > 0:
		res.Status = Noncompliant
		res.Explanation = fmt.Sprintf("%d of %d reporting hosts have no dataset inventory completed within %s.", stale, len(hosts), in.Options.Freshness)
	case sick > 0:
		res.Status = InsufficientEvidence
		res.Explanation = fmt.Sprintf("The datasets plugin is unhealthy on %d of %d reporting hosts, so their inventory cannot be trusted.", sick, len(hosts))
	default:
		res.Status = Compliant
		res.Explanation = fmt.Sprintf("All %d reporting hosts completed a dataset inventory within %s with a healthy plugin.", len(hosts), in.Options.Freshness)
	}
	return res
}

func datasetsNotWorldReadable(in *Input) CheckResult {
	revoked := map[string]bool{}
	for _, a := range in.Agents {
		if a.Revoked {
			revoked[a.ID] = true
		}
	}
	freshInventory := false
	var res CheckResult
	for id, hi := range in.inventories() {
		if hi.scan != nil && !revoked[id] && in.fresh(hi.scan.ObservedAt) {
			freshInventory = true
			res.Evidence = append(res.Evidence, evidenceOf(hi.scan))
		}
	}
	sortEvidence(res.Evidence)
	for i := range in.Records {
		r := &in.Records[i]
		if r.Kind != "dataset" || revoked[r.AgentID] {
			continue
		}
		res.Applicable++
		var a struct {
			WorldReadable bool `json:"world_readable"`
			Mode          any  `json:"mode"`
		}
		_ = json.Unmarshal(r.Attributes, &a)
		if !a.WorldReadable {
			res.Passing++
			continue
		}
		res.Failing = append(res.Failing, Subject{Subject: r.Subject, Host: r.Host, AgentID: r.AgentID,
			Observed: map[string]any{"world_readable": true, "mode": a.Mode}})
		res.Evidence = append(res.Evidence, evidenceOf(r))
	}
	switch {
	case !freshInventory:
		// Without a fresh inventory the list of datasets may be incomplete
		// or out of date; failing datasets are still listed.
		res.Status = InsufficientEvidence
		res.Explanation = fmt.Sprintf("No host has a dataset inventory completed within %s, so access to datasets cannot be judged.", in.Options.Freshness)
	case len(res.Failing) > 0:
		res.Status = Noncompliant
		res.Explanation = fmt.Sprintf("%d of %d datasets are readable by every user on their host.", len(res.Failing), res.Applicable)
	default:
		res.Status = Compliant
		res.Explanation = fmt.Sprintf("None of the %d inventoried datasets is readable by every user on its host.", res.Applicable)
	}
	return res
}

func sortEvidence(e []Evidence) {
	slices.SortFunc(e, func(a, b Evidence) int {
		return cmp.Or(cmp.Compare(a.AgentID, b.AgentID), cmp.Compare(a.Subject, b.Subject))
	})
}
