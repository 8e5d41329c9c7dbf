package controls

// ControlInfo names one loaded control.
type ControlInfo struct {
	// ID is namespaced: iso27001-2022/5.1.
	ID    string
	Title string
}

// ControlList lists every loaded control in catalog order (frameworks by
// id, then controls as their catalog lists them): the rows of a Statement
// of Applicability a compliance lead fills in.
func (e *Engine) ControlList() []ControlInfo {
	out := make([]ControlInfo, 0, len(e.controls))
	for _, c := range e.controls {
		out = append(out, ControlInfo{ID: c.controlID(), Title: c.Title})
	}
	return out
}
