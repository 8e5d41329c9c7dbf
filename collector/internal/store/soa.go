package store

import (
	"fmt"
	"strings"
)

// Unjustified reports whether the entry includes its control without a
// reason. The store accepts such an entry, as it always has (scripts and
// `soa set --applicable` re-include controls that way), but ISO/IEC
// 27001:2022 6.1.3 d) wants a reason for every inclusion, so the reports
// mark the line incomplete and the writers warn.
func (s *SoAEntry) Unjustified() bool {
	return s.Applicable && strings.TrimSpace(s.Justification) == ""
}

// Warning is what a writer tells whoever recorded an unjustified
// inclusion; "" for a complete entry.
func (s *SoAEntry) Warning() string {
	if !s.Unjustified() {
		return ""
	}
	return fmt.Sprintf("saved, but the Statement of Applicability is incomplete until you give a reason for including %s, e.g. the risk it treats or the requirement it meets (ISO/IEC 27001:2022 6.1.3 d)", s.ControlID)
}
