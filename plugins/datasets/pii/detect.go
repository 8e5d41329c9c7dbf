// Package pii finds personal data in a bounded sample of a dataset file.
// It reports which kinds of personal data were seen, how often and in
// which columns, never the values themselves. Detection is by value
// (patterns with checksums where the kind has one: Luhn for payment cards,
// mod-97 for IBANs, the SSA's never-issued ranges for US SSNs) and, for
// kinds no pattern can tell (names, addresses, dates of birth), by column
// name. Precision and recall on a labelled corpus are measured by
// TestCorpusPrecisionRecall and documented in the plugin README.
package pii

import (
	"net/netip"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode"
)

// Entity is a kind of personal data.
type Entity string

// The entity kinds, as reported in evidence.
const (
	Email       Entity = "email"
	Phone       Entity = "phone"
	CreditCard  Entity = "credit_card"
	IBAN        Entity = "iban"
	SSN         Entity = "us_ssn"
	IPv4        Entity = "ipv4"
	IPv6        Entity = "ipv6"
	MAC         Entity = "mac_address"
	DateOfBirth Entity = "date_of_birth"
	PersonName  Entity = "person_name"
	Address     Entity = "postal_address"
)

// All lists every entity kind, in report order.
var All = []Entity{Email, Phone, CreditCard, IBAN, SSN, IPv4, IPv6, MAC, DateOfBirth, PersonName, Address}

// maxValueLen bounds how much of one value is searched: a cell or a line
// of several megabytes is cut, so time stays linear in the sample.
const maxValueLen = 64 << 10

var (
	emailRE = regexp.MustCompile(`[A-Za-z0-9][A-Za-z0-9._%+\-]{0,63}@[A-Za-z0-9](?:[A-Za-z0-9\-]{0,62}\.)+[A-Za-z]{2,24}`)
	// Card candidates: 13 to 19 digits, optionally in groups split by one
	// space or hyphen.
	cardRE = regexp.MustCompile(`\d(?:[ \-]?\d){12,18}`)
	ibanRE = regexp.MustCompile(`[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}`)
	ssnRE  = regexp.MustCompile(`(\d{3})-(\d{2})-(\d{4})`)
	// Phone numbers must look written for people: an international
	// number with "+", or a North American one with its area code set
	// apart. Bare digit runs are ids, amounts or timestamps far more
	// often than phone numbers.
	phoneIntlRE = regexp.MustCompile(`\+\d{1,3}(?:[ .\-]?\(?\d{1,4}\)?){2,5}`)
	phoneNARE   = regexp.MustCompile(`(?:\(\d{3}\) ?|\d{3}[.\-])\d{3}[.\-]\d{4}`)
	// National formats with a trunk 0: "020 7946 0958", "030 1234 5678",
	// "01 23 45 67 89".
	phoneNatRE = regexp.MustCompile(`0\d{2,4}[ \-]\d{3,4}[ \-]\d{3,4}|0\d(?:[ .]\d{2}){4}`)
	ipv4RE     = regexp.MustCompile(`\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}`)
	ipv6RE     = regexp.MustCompile(`[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}`)
	macRE      = regexp.MustCompile(`[0-9A-Fa-f]{2}([:\-])[0-9A-Fa-f]{2}(?:[:\-][0-9A-Fa-f]{2}){4}|[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4}`)
)

// Match is what a value holds: entity kinds with how many of each.
type Match map[Entity]int

// Detect returns the personal data in one value of the given column
// ("" when the value has no column, such as a line of text). Column
// names count only for the kinds patterns cannot see.
//
// The value is cut into short candidate spans in one pass (around each
// "@", runs of digits and separators, runs of hex digits and colons, and
// two capitals before two digits), and the patterns run on those spans
// only, so time stays linear in the value whatever it holds.
func Detect(column, value string) Match {
	return detect(columnHint(column), value)
}

func detect(hint hint, value string) Match {
	if len(value) > maxValueLen {
		value = value[:maxValueLen]
	}
	m := Match{}
	if strings.TrimSpace(value) == "" {
		return m
	}
	d := detector{v: value, m: m, taken: make([]bool, len(value))}
	if strings.IndexByte(value, '@') >= 0 {
		d.emails()
	}
	if strings.ContainsAny(value, "0123456789") {
		d.ibans()
		nums := numSpans(value)
		// Most numbers are ids, amounts and dates: a kind's pattern runs
		// only on spans with enough digits or dots to be one.
		cards, ssns, ips, phones := filterSpans(value, nums, 13, 0, false), filterSpans(value, nums, 9, 0, true),
			filterSpans(value, nums, 4, 3, false), filterSpans(value, nums, 10, 0, false)
		d.each(cards, cardRE, func(lo, hi int, _ []int) {
			if value[max(lo-1, 0)] == '+' && lo > 0 {
				return
			}
			if validCard(value[lo:hi]) {
				d.claim(CreditCard, lo, hi)
			} else if strings.ContainsAny(value[lo:hi], " -") {
				// A grouped run of 13 or more digits that fails Luhn is an
				// order or account number; no phone number hides in it.
				d.block(lo, hi)
			}
		}, ".-")
		d.each(ssns, ssnRE, func(lo, hi int, sub []int) {
			if validSSN(value[sub[2]:sub[3]], value[sub[4]:sub[5]], value[sub[6]:sub[7]]) {
				d.claim(SSN, lo, hi)
			}
		}, ".-")
		if hint == hintSSN {
			// A bare nine-digit number counts only in a column named for it.
			if t := strings.TrimSpace(value); len(t) == 9 && allDigits(t) && d.free(0, len(value)) && validSSN(t[:3], t[3:5], t[5:]) {
				d.claim(SSN, 0, len(value))
			}
		}
		hex := hexSpans(value)
		d.each(hex, macRE, func(lo, hi int, _ []int) {
			if validMAC(value[lo:hi]) {
				d.claim(MAC, lo, hi)
			}
		}, ":-.")
		if hint != hintVersion {
			d.each(ips, ipv4RE, func(lo, hi int, _ []int) {
				if !versionBefore(value, lo) && validIPv4(value[lo:hi]) {
					d.claim(IPv4, lo, hi)
				}
			}, ".")
		}
		for _, re := range []*regexp.Regexp{phoneIntlRE, phoneNARE, phoneNatRE} {
			d.each(phones, re, func(lo, hi int, _ []int) {
				if re == phoneNARE && lo > 0 && value[lo-1] == '+' {
					return
				}
				if validPhone(value[lo:hi], re != phoneNARE) {
					d.claim(Phone, lo, hi)
				}
			}, ".-/:")
		}
		if strings.Count(value, ":") >= 2 {
			d.each(hex, ipv6RE, func(lo, hi int, _ []int) {
				if validIPv6(value[lo:hi]) {
					d.claim(IPv6, lo, hi)
				}
			}, ":.")
		}
	}
	switch hint {
	case hintDOB:
		if looksLikeDate(value) {
			m[DateOfBirth]++
		}
	case hintName:
		m[PersonName]++
	case hintWeakName:
		if looksLikePersonName(value) {
			m[PersonName]++
		}
	case hintAddress:
		if len(m) == 0 && strings.IndexFunc(value, unicode.IsLetter) >= 0 {
			m[Address]++
		}
	}
	return m
}

// detector holds one value under inspection. taken marks bytes already
// claimed by a kind found earlier (the order favours kinds with a
// checksum), so a card number is not also read as a phone number.
type detector struct {
	v     string
	m     Match
	taken []bool
}

func (d *detector) claim(e Entity, lo, hi int) {
	d.m[e]++
	d.block(lo, hi)
}

func (d *detector) block(lo, hi int) {
	for i := lo; i < hi; i++ {
		d.taken[i] = true
	}
}

func (d *detector) free(lo, hi int) bool { return !slices.Contains(d.taken[lo:hi], true) }

// each runs re over each span and calls found for matches that are free
// and stand alone (see boundary), with absolute offsets.
func (d *detector) each(spans [][2]int, re *regexp.Regexp, found func(lo, hi int, sub []int), glue string) {
	for _, sp := range spans {
		for _, loc := range re.FindAllStringSubmatchIndex(d.v[sp[0]:sp[1]], -1) {
			for i := range loc {
				if loc[i] >= 0 {
					loc[i] += sp[0]
				}
			}
			if d.free(loc[0], loc[1]) && boundary(d.v, loc[0], loc[1], glue) {
				found(loc[0], loc[1], loc)
			}
		}
	}
}

// maxSpan: a longer run of digits and separators is a table of numbers
// or an encoding, not one value of personal data.
const maxSpan = 64

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func isHex(c byte) bool { return isDigit(c) || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' }

// numSpans finds runs that start with a digit, "+" or "(" and continue
// over digits and single separators followed by a digit.
func numSpans(v string) [][2]int {
	var out [][2]int
	n := len(v)
	for i := 0; i < n; {
		c := v[i]
		if !isDigit(c) && !((c == '+' || c == '(') && i+1 < n && isDigit(v[i+1])) {
			i++
			continue
		}
		j := i + 1
		for j < n {
			c := v[j]
			if isDigit(c) {
				j++
				continue
			}
			if strings.IndexByte(" -.()/", c) >= 0 && j+1 < n && (isDigit(v[j+1]) || v[j+1] == '(' || (c == ')' && v[j+1] == ' ' && j+2 < n && isDigit(v[j+2]))) {
				j++
				continue
			}
			if c == ')' {
				j++
			}
			break
		}
		if j-i <= maxSpan {
			out = append(out, [2]int{i, j})
		}
		i = j
	}
	return out
}

// filterSpans keeps the spans with at least minDigits digits and
// minDots dots, and a hyphen if needHyphen.
func filterSpans(v string, spans [][2]int, minDigits, minDots int, needHyphen bool) [][2]int {
	var out [][2]int
	for _, sp := range spans {
		digits, dots, hyphen := 0, 0, false
		for i := sp[0]; i < sp[1]; i++ {
			switch c := v[i]; {
			case isDigit(c):
				digits++
			case c == '.':
				dots++
			case c == '-':
				hyphen = true
			}
		}
		if digits >= minDigits && dots >= minDots && (hyphen || !needHyphen) {
			out = append(out, sp)
		}
	}
	return out
}

// hexSpans finds runs of hex digits with ":", "-" or "." in them (MAC and
// IPv6 addresses).
func hexSpans(v string) [][2]int {
	var out [][2]int
	n := len(v)
	for i := 0; i < n; {
		if !isHex(v[i]) && v[i] != ':' {
			i++
			continue
		}
		j, seps := i, 0
		for j < n && (isHex(v[j]) || v[j] == ':' || v[j] == '-' || v[j] == '.') {
			if !isHex(v[j]) {
				seps++
			}
			j++
		}
		if seps >= 2 && j-i <= maxSpan {
			out = append(out, [2]int{i, j})
		}
		i = j
	}
	return out
}

func isLocal(c byte) bool {
	return isDigit(c) || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || strings.IndexByte("._%+-", c) >= 0
}

func isDomain(c byte) bool {
	return isDigit(c) || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '-' || c == '.'
}

// emails looks around each "@" only.
func (d *detector) emails() {
	v := d.v
	for off := 0; ; {
		at := strings.IndexByte(v[off:], '@')
		if at < 0 {
			return
		}
		at += off
		lo, hi := at, at+1
		for lo > 0 && at-lo < 64 && isLocal(v[lo-1]) {
			lo--
		}
		for hi < len(v) && hi-at < 256 && isDomain(v[hi]) {
			hi++
		}
		off = hi
		if loc := emailRE.FindStringIndex(v[lo:hi]); loc != nil {
			if a, b := lo+loc[0], lo+loc[1]; d.free(a, b) && boundary(v, a, b, "@.") {
				d.claim(Email, a, b)
			}
		}
		if off <= at {
			off = at + 1
		}
	}
}

// ibans looks where two capitals precede two digits.
func (d *detector) ibans() {
	v := d.v
	for i := 0; i+4 <= len(v); i++ {
		if !(v[i] >= 'A' && v[i] <= 'Z' && v[i+1] >= 'A' && v[i+1] <= 'Z' && isDigit(v[i+2]) && isDigit(v[i+3])) {
			continue
		}
		end := min(len(v), i+42)
		loc := ibanRE.FindStringIndex(v[i:end])
		if loc == nil || loc[0] != 0 {
			continue
		}
		lo, hi := i, i+loc[1]
		if !d.free(lo, hi) || !boundary(v, lo, hi, "") {
			continue
		}
		switch s := v[lo:hi]; {
		case validIBAN(s):
			d.claim(IBAN, lo, hi)
			i = hi - 1
		case ibanShaped(s):
			// A mistyped IBAN is still an account number, not a card
			// number hiding in its digits.
			d.block(lo, hi)
			i = hi - 1
		}
	}
}

// boundary says whether value[lo:hi] stands alone: not glued to letters
// or digits on either side, nor to any of the extra characters (a dot
// after "1.2.3.4" makes it part of "1.2.3.4.5").
func boundary(value string, lo, hi int, extra string) bool {
	glued := func(c byte) bool {
		return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || strings.IndexByte(extra, c) >= 0
	}
	if lo > 0 && glued(value[lo-1]) {
		return false
	}
	if hi < len(value) {
		c := value[hi]
		// A sentence may end right after the value.
		if c == '.' && (hi+1 == len(value) || value[hi+1] == ' ') {
			return true
		}
		if glued(c) {
			return false
		}
	}
	return true
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

func digitsOf(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] >= '0' && s[i] <= '9' {
			b.WriteByte(s[i])
		}
	}
	return b.String()
}

// validCard: 13–19 digits, an issuer prefix of a major scheme, and the
// Luhn check digit. Separators, if any, must all be the same character.
func validCard(s string) bool {
	if strings.Contains(s, " ") && strings.Contains(s, "-") {
		return false
	}
	d := digitsOf(s)
	if len(d) < 13 || len(d) > 19 || !cardIssuer(d) {
		return false
	}
	return luhn(d)
}

func luhn(d string) bool {
	sum, double := 0, false
	for i := len(d) - 1; i >= 0; i-- {
		n := int(d[i] - '0')
		if double {
			n *= 2
			if n > 9 {
				n -= 9
			}
		}
		sum += n
		double = !double
	}
	return sum%10 == 0
}

// cardIssuer accepts the prefixes and lengths of Visa, Mastercard,
// American Express, Discover, JCB, Diners Club, UnionPay and Maestro.
func cardIssuer(d string) bool {
	p2 := atoi(d[:2])
	p3 := atoi(d[:3])
	p4 := atoi(d[:4])
	p6 := atoi(d[:6])
	n := len(d)
	switch {
	case d[0] == '4':
		return n == 13 || n == 16 || n == 19
	case p2 >= 51 && p2 <= 55, p4 >= 2221 && p4 <= 2720:
		return n == 16
	case p2 == 34 || p2 == 37:
		return n == 15
	case p4 == 6011, p2 == 65, p3 >= 644 && p3 <= 649, p6 >= 622126 && p6 <= 622925:
		return n >= 16 && n <= 19
	case p4 >= 3528 && p4 <= 3589:
		return n >= 16 && n <= 19
	case p2 == 36 || p2 == 38 || p3 >= 300 && p3 <= 305:
		return n >= 14 && n <= 19
	case p2 == 62:
		return n >= 16 && n <= 19
	case p2 == 50, p2 >= 56 && p2 <= 58, p2 == 67, p2 == 63:
		return n >= 12 && n <= 19
	}
	return false
}

func atoi(s string) int {
	n := 0
	for i := 0; i < len(s); i++ {
		n = n*10 + int(s[i]-'0')
	}
	return n
}

// ibanLengths are the IBAN lengths of the countries that use one (SWIFT
// IBAN registry); an IBAN of another country or length is not one.
var ibanLengths = map[string]int{
	"AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22, "BR": 29,
	"BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DK": 18, "DO": 28, "EE": 20, "EG": 29,
	"ES": 24, "FI": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27, "GT": 28,
	"HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20,
	"LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "MC": 27, "MD": 24, "ME": 22, "MK": 19,
	"MR": 27, "MT": 31, "MU": 30, "NL": 18, "NO": 15, "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29,
	"RO": 24, "RS": 22, "SA": 24, "SC": 31, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "ST": 25, "SV": 28,
	"TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20,
}

// ibanShaped: a known country code and that country's IBAN length.
func ibanShaped(s string) bool {
	s = strings.ReplaceAll(s, " ", "")
	want, ok := ibanLengths[s[:2]]
	return ok && len(s) == want
}

// validIBAN checks the country's length and the ISO 7064 mod-97 check.
func validIBAN(s string) bool {
	s = strings.ReplaceAll(s, " ", "")
	want, ok := ibanLengths[s[:2]]
	if !ok || len(s) != want {
		return false
	}
	r := s[4:] + s[:4]
	rem := 0
	for i := 0; i < len(r); i++ {
		c := r[i]
		switch {
		case c >= '0' && c <= '9':
			rem = (rem*10 + int(c-'0')) % 97
		case c >= 'A' && c <= 'Z':
			rem = (rem*100 + int(c-'A'+10)) % 97
		default:
			return false
		}
	}
	return rem == 1
}

// validSSN applies the SSA's rules for numbers never issued: area 000,
// 666 or 900–999, group 00, serial 0000, and the numbers made public in
// advertising (078-05-1120, 219-09-9999) that people copied.
func validSSN(area, group, serial string) bool {
	a := atoi(area)
	if a == 0 || a == 666 || a >= 900 || group == "00" || serial == "0000" {
		return false
	}
	full := area + group + serial
	return full != "078051120" && full != "219099999"
}

func validMAC(s string) bool {
	zero, ones := true, true
	for i := 0; i < len(s); i++ {
		if c := s[i]; isHex(c) {
			zero = zero && c == '0'
			ones = ones && (c == 'f' || c == 'F')
		}
	}
	return !zero && !ones
}

// versionBefore says whether a dotted quad follows a word that makes it a
// version ("v1.2.3.4", "version 10.0.0.1", "build 4.3.2.1").
func versionBefore(value string, lo int) bool {
	before := strings.ToLower(value[max(0, lo-12):lo])
	before = strings.TrimRight(before, " :=")
	for _, w := range []string{"v", "ver", "version", "build", "release", "rev", "firmware", "oid"} {
		if strings.HasSuffix(before, w) {
			i := len(before) - len(w)
			if i == 0 || !unicode.IsLetter(rune(before[i-1])) {
				return true
			}
		}
	}
	return false
}

// validIPv4 wants four octets of at most 255 without leading zeros, and
// leaves out addresses that say nothing about a host or person: 0/8,
// loopback, multicast and reserved.
func validIPv4(s string) bool {
	parts := strings.Split(s, ".")
	first := 0
	for i, p := range parts {
		if len(p) > 1 && p[0] == '0' {
			return false
		}
		n := atoi(p)
		if n > 255 {
			return false
		}
		if i == 0 {
			first = n
		}
	}
	return first != 0 && first != 127 && first < 224
}

func validIPv6(s string) bool {
	groups := strings.Split(s, ":")
	if !strings.Contains(s, "::") && len(groups) != 8 {
		return false
	}
	// Times and ratios ("12:30:45") are decimal groups of one or two
	// digits; an address has at least one hex group of three or more.
	long := false
	for _, g := range groups {
		if len(g) >= 3 {
			long = true
		}
	}
	if !long {
		return false
	}
	a, err := netip.ParseAddr(s)
	if err != nil || !a.Is6() {
		return false
	}
	return !a.IsLoopback() && !a.IsUnspecified() && !a.IsMulticast()
}

// validPhone wants 10 to 15 digits for international and national
// numbers (E.164 allows 15; shorter ones are extensions or codes) and a valid North
// American area code and exchange (they never start with 0 or 1).
func validPhone(s string, intl bool) bool {
	d := digitsOf(s)
	if intl {
		if len(d) < 10 || len(d) > 15 {
			return false
		}
		// "+1 (555) 123-4567" style parentheses must balance.
		return strings.Count(s, "(") == strings.Count(s, ")")
	}
	if len(d) != 10 || d[0] < '2' || d[3] < '2' {
		return false
	}
	return strings.Count(s, "(") == strings.Count(s, ")")
}

var dateLayouts = []string{
	"2006-01-02", "2006/01/02", "02/01/2006", "01/02/2006", "2.1.2006", "02.01.2006", "20060102",
	"Jan 2, 2006", "January 2, 2006", "2 Jan 2006", "2 January 2006", "2006-01-02T15:04:05Z07:00", "2006-01-02 15:04:05",
}

// looksLikeDate accepts the date shapes people write; a birth date in the
// future or before 1880 is not one.
func looksLikeDate(v string) bool {
	v = strings.TrimSpace(v)
	for _, l := range dateLayouts {
		if t, err := time.Parse(l, v); err == nil {
			return t.Year() >= 1880 && t.Year() <= 2100
		}
	}
	// 13/25/1990 fails both day-first and month-first only when invalid;
	// "1990-5-3" without zero padding is common too.
	for _, l := range []string{"2006-1-2", "1/2/2006", "2/1/2006"} {
		if t, err := time.Parse(l, v); err == nil {
			return t.Year() >= 1880 && t.Year() <= 2100
		}
	}
	return false
}

// looksLikePersonName: two to four capitalised words of letters (with
// apostrophes, hyphens and dots for initials), as in "Ada Lovelace" or
// "J. R. Smith". Used only under a column whose name alone is not enough.
func looksLikePersonName(v string) bool {
	words := strings.Fields(v)
	if len(words) < 2 || len(words) > 4 || len(v) > 80 {
		return false
	}
	for _, w := range words {
		r := []rune(w)
		if !unicode.IsUpper(r[0]) {
			return false
		}
		for _, c := range r[1:] {
			if !unicode.IsLetter(c) && c != '\'' && c != '-' && c != '.' {
				return false
			}
		}
		if len(r) > 1 && strings.ToUpper(w) == w && !strings.HasSuffix(w, ".") {
			return false // "USB HUB", acronyms
		}
	}
	return true
}
