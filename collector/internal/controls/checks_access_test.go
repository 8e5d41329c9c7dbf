package controls

// Table cases of the access checks appended for the audit, journal and
// asset evidence; kept apart from checks_test.go's table so the two grow
// without touching each other.
func init() {
	subjectCases["access.sources_read"] = struct {
		good, bad           string
		goodExtra, badExtra []Record
	}{good: `{"source":"journald","note":""}`, bad: `{"source":"journald","note":"journal not read: journalctl not found"}`}
	subjectCases["access.audit.asset_watches_kept"] = struct {
		good, bad           string
		goodExtra, badExtra []Record
	}{
		good: `{"action":"audit_config","op":"remove_rule","key":"annexa-datasets","result":"failure","actor":"bob","at":"2026-03-01T00:00:00Z"}`,
		bad:  `{"action":"audit_config","op":"remove_rule","key":"annexa-datasets","result":"success","actor":"bob","at":"2026-03-01T00:00:00Z"}`,
	}
	subjectCases["access.no_restricted_access_after_hours"] = struct {
		good, bad           string
		goodExtra, badExtra []Record
	}{good: `{"anomalies":[{"rule":"restricted_outside_hours","resolved":true},{"rule":"first_access"}]}`, bad: `{"anomalies":[{"rule":"restricted_outside_hours","actor":"alice"}]}`}
}
