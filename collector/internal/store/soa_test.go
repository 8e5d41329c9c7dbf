package store

import (
	"strings"
	"testing"
)

// TestSoAUnjustified: only an inclusion without a reason (blanks are none)
// is incomplete, and it stays valid: the store accepts what it always did.
func TestSoAUnjustified(t *testing.T) {
	for _, c := range []struct {
		e    SoAEntry
		want bool
	}{
		{SoAEntry{ControlID: "iso27001-2022/5.2", Applicable: true, Author: "lea"}, true},
		{SoAEntry{ControlID: "iso27001-2022/5.2", Applicable: true, Justification: " \n\t", Author: "lea"}, true},
		{SoAEntry{ControlID: "iso27001-2022/5.2", Applicable: true, Justification: "Risk R-1", Author: "lea"}, false},
		{SoAEntry{ControlID: "iso27001-2022/7.4", Applicable: false, Justification: "no premises", Author: "lea"}, false},
	} {
		if err := c.e.Validate(); err != nil {
			t.Errorf("%+v is refused: %v", c.e, err)
		}
		if got := c.e.Unjustified(); got != c.want {
			t.Errorf("%+v: unjustified %v, want %v", c.e, got, c.want)
		}
		w := c.e.Warning()
		if c.want != (w != "") || c.want && !strings.Contains(w, "give a reason for including "+c.e.ControlID+", e.g. the risk it treats or the requirement it meets") {
			t.Errorf("%+v: warning %q", c.e, w)
		}
	}
}
