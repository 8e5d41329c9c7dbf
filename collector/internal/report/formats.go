package report

// FormatInfo says how to hand a format's output to a person: the web UI's
// downloads and the command line use it to name files and set the
// Content-Type. Every format registered with RegisterFormat has one.
type FormatInfo struct {
	Name      string
	Title     string
	MediaType string
	// FileName is the name a download of the format gets.
	FileName string
}

var formatInfo = map[string]FormatInfo{
	"json":      {"json", "Compliance report (JSON)", "application/json", "annexa-report.json"},
	"summary":   {"summary", "Summary for a terminal", "text/plain; charset=utf-8", "annexa-summary.txt"},
	"html":      {"html", "Report as one HTML page", "text/html; charset=utf-8", "annexa-report.html"},
	"csv":       {"csv", "Statement of Applicability (CSV)", "text/csv; charset=utf-8", "annexa-statement-of-applicability.csv"},
	"oscal":     {"oscal", "OSCAL 1.1.3 assessment results", "application/json", "annexa-oscal-assessment-results.json"},
	"cyclonedx": {"cyclonedx", "CycloneDX 1.6 ML-BOM", "application/vnd.cyclonedx+json", "annexa-ml-bom.cdx.json"},
	"bundle":    {"bundle", "Evidence bundle for auditors (zip)", "application/zip", "annexa-evidence-bundle.zip"},
}

// Info describes a registered format; ok is false for an unknown one.
func Info(format string) (FormatInfo, bool) {
	if _, ok := formats[format]; !ok {
		return FormatInfo{}, false
	}
	fi, ok := formatInfo[format]
	if !ok {
		fi = FormatInfo{Name: format, Title: format, MediaType: "application/octet-stream", FileName: "annexa-report." + format}
	}
	return fi, true
}
