package pii

import (
	"encoding/csv"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
)

// The labelled corpus: a deterministic table of people-like records in
// which every cell carries the personal data it truly holds. Planted
// values are made by the rules that make them real (Luhn check digits,
// mod-97 IBAN check digits, SSNs from issued ranges); decoys are what
// trips detectors: numbers failing Luhn, IBANs with a wrong check, SSNs
// from never-issued ranges, version strings and OIDs shaped like IPv4
// addresses, times shaped like IPv6, ISBNs, UUIDs, epoch timestamps,
// order references, product names in a "name" column, dates that are
// not birth dates.

// cell is one value with the personal data it holds.
type cell struct {
	value string
	truth Match
}

// corpusColumns are the corpus's columns, in order.
var corpusColumns = []string{
	"id", "first_name", "last_name", "name", "product_name", "email", "phone", "dob", "created_at",
	"address", "ssn", "card", "iban", "client_ip", "mac", "version", "amount", "ref", "notes",
}

type gen struct{ r *rand.Rand }

// corpus returns n rows, the same for the same seed.
func corpus(seed uint64, n int) [][]cell {
	g := gen{rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
	rows := make([][]cell, n)
	for i := range rows {
		rows[i] = g.row(i)
	}
	return rows
}

func none(v string) cell               { return cell{v, Match{}} }
func one(v string, e Entity) cell      { return cell{v, Match{e: 1}} }
func (g gen) pick(xs ...string) string { return xs[g.r.IntN(len(xs))] }
func (g gen) chance(p float64) bool    { return g.r.Float64() < p }
func (g gen) digits(n int) string      { return g.digitsFrom(n, '0') }
func (g gen) between(lo, hi int) int   { return lo + g.r.IntN(hi-lo+1) }
func (g gen) pad(n, width int) string  { return fmt.Sprintf("%0*d", width, n) }
func (g gen) digitsFrom(n int, lo byte) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = lo + byte(g.r.IntN(int('9'-lo)+1))
	}
	return string(b)
}

var (
	firstNames = []string{"Ada", "Grace", "Alan", "Katherine", "Linus", "Margaret", "Dennis", "Barbara", "Ken", "Frances",
		"Edsger", "Radia", "Tim", "Hedy", "John", "Mary", "José", "Zoë", "Søren", "Aisha", "Wei", "Priya", "Olusegun", "Anne-Marie"}
	lastNames = []string{"Lovelace", "Hopper", "Turing", "Johnson", "Torvalds", "Hamilton", "Ritchie", "Liskov", "Thompson",
		"Allen", "Dijkstra", "Perlman", "Berners-Lee", "Lamarr", "O'Neil", "García", "Müller", "Okafor", "Nakamura", "Chen"}
	products = []string{"usb-c cable", "Widget", "iris-setosa", "resnet50 weights", "GPU A100 80GB", "ACME SPROCKET",
		"blue mug", "Model v2", "Deluxe Edition Box Set 2024", "4K HDR monitor", "kubernetes", "T-shirt XL"}
	streets = []string{"Main St", "Baker Street", "Rue de Rivoli", "Hauptstraße", "Elm Avenue", "Calle Mayor", "High Road"}
	cities  = []string{"Springfield", "London", "Paris", "Berlin", "Madrid", "Lagos", "Osaka"}
	domains = []string{"example.com", "mail.example.co.uk", "uni-heidelberg.de", "corp.example.org", "gmail.com"}
)

func (g gen) person() string { return g.pick(firstNames...) + " " + g.pick(lastNames...) }

func (g gen) email() string {
	local := strings.ToLower(strings.NewReplacer("'", "", " ", ".", "é", "e", "ë", "e", "ø", "o", "í", "i", "ü", "u").
		Replace(g.pick(firstNames...) + "." + g.pick(lastNames...)))
	switch g.r.IntN(3) {
	case 0:
		local += "+" + g.pick("news", "ml", "x1")
	case 1:
		local += strconv.Itoa(g.r.IntN(999))
	}
	return local + "@" + g.pick(domains...)
}

func (g gen) phone() string {
	area, exch := g.digitsFrom(1, '2')+g.digits(2), g.digitsFrom(1, '2')+g.digits(2)
	line := g.digits(4)
	switch g.r.IntN(9) {
	case 7:
		return "020 " + g.digits(4) + " " + g.digits(4)
	case 8:
		return "0" + g.pick("30", "89", "40") + " " + g.digits(4) + " " + g.digits(4)
	case 0:
		return "(" + area + ") " + exch + "-" + line
	case 1:
		return area + "-" + exch + "-" + line
	case 2:
		return area + "." + exch + "." + line
	case 3:
		return "+1 " + area + " " + exch + " " + line
	case 4:
		return "+44 20 " + g.digits(4) + " " + g.digits(4)
	case 5:
		return "+49 30 " + g.digits(8)
	default:
		return "+33 " + g.digitsFrom(1, '1') + " " + g.digits(2) + " " + g.digits(2) + " " + g.digits(2) + " " + g.digits(2)
	}
}

func (g gen) date(yearLo, yearHi int) string {
	y, m, d := g.between(yearLo, yearHi), g.between(1, 12), g.between(1, 28)
	switch g.r.IntN(4) {
	case 0:
		return fmt.Sprintf("%04d-%02d-%02d", y, m, d)
	case 1:
		return fmt.Sprintf("%02d/%02d/%04d", d, m, y)
	case 2:
		return fmt.Sprintf("%02d.%02d.%04d", d, m, y)
	default:
		return fmt.Sprintf("%s %d, %d", []string{"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"}[m-1], d, y)
	}
}

func (g gen) address() string {
	return fmt.Sprintf("%d %s, %s", g.between(1, 999), g.pick(streets...), g.pick(cities...))
}

func checkDigit(body string) byte {
	for c := byte('0'); c <= '9'; c++ {
		if luhn(body + string(c)) {
			return c
		}
	}
	panic("no check digit")
}

// card returns a card number; valid ones carry a Luhn check digit and an
// issuer prefix, invalid ones the same with a wrong check digit.
func (g gen) card(valid bool) string {
	var body string
	switch g.r.IntN(5) {
	case 0:
		body = "4" + g.digits(14)
	case 1:
		body = strconv.Itoa(g.between(51, 55)) + g.digits(13)
	case 2:
		body = strconv.Itoa(g.between(2221, 2720)) + g.digits(11)
	case 3:
		body = g.pick("34", "37") + g.digits(12)
	default:
		body = "6011" + g.digits(11)
	}
	c := checkDigit(body)
	if !valid {
		c = '0' + (c-'0'+byte(g.between(1, 9)))%10
	}
	num := body + string(c)
	switch g.r.IntN(3) {
	case 0:
		return num
	case 1:
		return group(num, 4, " ")
	default:
		return group(num, 4, "-")
	}
}

func group(s string, n int, sep string) string {
	var parts []string
	for len(s) > n {
		parts = append(parts, s[:n])
		s = s[n:]
	}
	return strings.Join(append(parts, s), sep)
}

// iban builds an IBAN of a real country layout with correct (or, for a
// decoy, deliberately wrong) check digits.
func (g gen) iban(valid bool) string {
	var cc, bban string
	switch g.r.IntN(5) {
	case 0:
		cc, bban = "DE", g.digits(18)
	case 1:
		cc, bban = "GB", g.pick("NWBK", "BARC", "WEST")+g.digits(14)
	case 2:
		cc, bban = "FR", g.digits(23)
	case 3:
		cc, bban = "NL", g.pick("ABNA", "INGB", "RABO")+g.digits(10)
	default:
		cc, bban = "ES", g.digits(20)
	}
	check := 0
	for c := 2; c <= 98; c++ {
		if validIBAN(cc + fmt.Sprintf("%02d", c) + bban) {
			check = c
			break
		}
	}
	if !valid {
		check = 2 + (check-2+g.between(1, 96))%97
	}
	s := cc + fmt.Sprintf("%02d", check) + bban
	if g.chance(0.5) {
		return group(s, 4, " ")
	}
	return s
}

func (g gen) ssn(valid bool) string {
	if valid {
		area := g.between(1, 899)
		for area == 666 || area == 78 || area == 219 {
			area = g.between(1, 899)
		}
		return fmt.Sprintf("%03d-%02d-%04d", area, g.between(1, 99), g.between(1, 9999))
	}
	switch g.r.IntN(6) {
	case 0:
		return fmt.Sprintf("000-%02d-%04d", g.between(1, 99), g.between(1, 9999))
	case 1:
		return fmt.Sprintf("666-%02d-%04d", g.between(1, 99), g.between(1, 9999))
	case 2:
		return fmt.Sprintf("%03d-%02d-%04d", g.between(900, 999), g.between(1, 99), g.between(1, 9999))
	case 3:
		return fmt.Sprintf("%03d-00-%04d", g.between(1, 665), g.between(1, 9999))
	case 4:
		return fmt.Sprintf("%03d-%02d-0000", g.between(1, 665), g.between(1, 99))
	default:
		return g.pick("078-05-1120", "219-09-9999")
	}
}

func (g gen) ipv4() string {
	first := g.between(1, 223)
	for first == 127 {
		first = g.between(1, 223)
	}
	return fmt.Sprintf("%d.%d.%d.%d", first, g.r.IntN(256), g.r.IntN(256), g.between(1, 254))
}

func (g gen) ipv6() string {
	h := func() string { return strconv.FormatInt(int64(g.r.IntN(0xffff)+1), 16) }
	switch g.r.IntN(3) {
	case 0:
		return "2001:db8:" + h() + "::" + h() + ":" + h()
	case 1:
		return "fe80::" + h() + ":" + h() + ":" + h() + ":" + h()
	default:
		return fmt.Sprintf("2a02:%04x:%04x:%04x:%04x:%04x:%04x:%04x", g.r.IntN(65536), g.r.IntN(65536), g.r.IntN(65536),
			g.r.IntN(65536), g.r.IntN(65536), g.r.IntN(65536), g.r.IntN(65536)|0x1000)
	}
}

func (g gen) mac() string {
	sep := g.pick(":", "-")
	parts := make([]string, 6)
	for i := range parts {
		parts[i] = fmt.Sprintf("%02x", g.r.IntN(256))
	}
	parts[0] = fmt.Sprintf("%02x", g.between(1, 254))
	if g.chance(0.5) {
		return strings.ToUpper(strings.Join(parts, sep))
	}
	return strings.Join(parts, sep)
}

func (g gen) row(i int) []cell {
	row := []cell{none(strconv.Itoa(100000 + i))}
	// Names: first/last name columns are named for people.
	row = append(row, one(g.pick(firstNames...), PersonName), one(g.pick(lastNames...), PersonName))
	switch {
	case g.chance(0.03):
		// Names written in lower case carry no sign of being names: a
		// known miss, kept so the recall figure stays honest.
		row = append(row, one(strings.ToLower(g.person()), PersonName))
	case g.chance(0.5):
		row = append(row, one(g.person(), PersonName))
	default:
		row = append(row, none(g.pick(products...)))
	}
	row = append(row, none(g.pick(products...)+" "+g.pick("", "Pro", "Mini", "Ada Edition")))
	// email
	if g.chance(0.05) {
		row = append(row, one(strings.ToUpper(g.email()), Email))
	} else if g.chance(0.85) {
		row = append(row, one(g.email(), Email))
	} else {
		row = append(row, none(g.pick("n/a", "jane at example dot com", "@jdoe", "user@localhost", "mailto:", "first.last@", "-")))
	}
	// phone
	if g.chance(0.85) {
		row = append(row, one(g.phone(), Phone))
	} else {
		row = append(row, none(g.pick("ext. 1234", "N/A", "0000", "ORD-2024-"+g.digits(6), g.date(2000, 2024), "1-800-FLOWERS", "#"+g.digits(3))))
	}
	// dob and a date that is not one
	if g.chance(0.9) {
		row = append(row, one(g.date(1930, 2010), DateOfBirth))
	} else {
		row = append(row, none(g.pick("", "unknown", "n/a")))
	}
	row = append(row, none(g.date(2015, 2025)))
	// address
	if g.chance(0.9) {
		row = append(row, one(g.address(), Address))
	} else {
		row = append(row, none(""))
	}
	// ssn
	if g.chance(0.6) {
		row = append(row, one(g.ssn(true), SSN))
	} else {
		row = append(row, none(g.ssn(false)))
	}
	// card
	if g.chance(0.5) {
		row = append(row, one(g.card(true), CreditCard))
	} else {
		row = append(row, none(g.card(false)))
	}
	// iban
	if g.chance(0.5) {
		row = append(row, one(g.iban(true), IBAN))
	} else {
		row = append(row, none(g.iban(false)))
	}
	// ip
	switch g.r.IntN(4) {
	case 0, 1:
		row = append(row, one(g.ipv4(), IPv4))
	case 2:
		row = append(row, one(g.ipv6(), IPv6))
	default:
		row = append(row, none(g.pick("127.0.0.1", "0.0.0.0", "::1", "256.1.2.3", "-", "localhost", "10.0.0.256")))
	}
	// mac
	if g.chance(0.7) {
		row = append(row, one(g.mac(), MAC))
	} else {
		row = append(row, none(g.pick("00:00:00:00:00:00", "FF:FF:FF:FF:FF:FF", "de:ad:be:ef", "12:30:45")))
	}
	// version strings shaped like IPv4 addresses, in a version column
	row = append(row, none(fmt.Sprintf("%d.%d.%d.%d", g.between(0, 12), g.between(0, 30), g.between(0, 200), g.between(0, 99))))
	row = append(row, none(fmt.Sprintf("%d.%02d", g.between(0, 99999), g.r.IntN(100))))
	row = append(row, none(g.pick("ORD-", "INV-", "")+g.digits(g.between(6, 12))))
	row = append(row, g.note())
	return row
}

// note is free text mixing planted values with decoys.
func (g gen) note() cell {
	m := Match{}
	var parts []string
	for range g.between(1, 3) {
		switch g.r.IntN(16) {
		case 0:
			parts = append(parts, "Contact "+g.email()+" for access.")
			m[Email]++
		case 1:
			parts = append(parts, "Call "+g.phone()+" after 5pm.")
			m[Phone]++
		case 2:
			parts = append(parts, "Paid with card "+g.card(true)+" yesterday.")
			m[CreditCard]++
		case 3:
			parts = append(parts, "Refund to "+g.iban(true)+" please.")
			m[IBAN]++
		case 4:
			parts = append(parts, "Login from "+g.ipv4()+" was blocked.")
			m[IPv4]++
		case 5:
			parts = append(parts, "SSN on file: "+g.ssn(true)+".")
			m[SSN]++
		case 6:
			parts = append(parts, "Device "+g.mac()+" joined the network.")
			m[MAC]++
		case 7:
			parts = append(parts, "Upgraded to version "+fmt.Sprintf("%d.%d.%d.%d", g.between(1, 9), g.r.IntN(20), g.r.IntN(200), g.r.IntN(99))+" today.")
		case 8:
			parts = append(parts, "Order "+g.card(false)+" shipped.")
		case 9:
			parts = append(parts, "ISBN 978-"+g.digits(1)+"-"+g.digits(2)+"-"+g.digits(6)+"-"+g.digits(1)+" in stock.")
		case 10:
			parts = append(parts, "Meeting at "+fmt.Sprintf("%02d:%02d:%02d", g.r.IntN(24), g.r.IntN(60), g.r.IntN(60))+" in room 4.")
		case 11:
			parts = append(parts, fmt.Sprintf("Trace id %08x-%04x-%04x-%04x-%012x logged.", g.r.Uint32(), g.r.IntN(65536), g.r.IntN(65536), g.r.IntN(65536), g.r.Uint64()&0xffffffffffff))
		case 12:
			parts = append(parts, "Epoch "+strconv.FormatInt(1600000000000+g.r.Int64N(200000000000), 10)+" ms.")
		case 13:
			parts = append(parts, "OID 1.3.6.1.4.1."+g.digits(5)+" registered.")
		case 14:
			parts = append(parts, "Invalid SSN "+g.ssn(false)+" rejected.")
		default:
			parts = append(parts, "Temperature was "+fmt.Sprintf("%d.%d", g.between(30, 40), g.r.IntN(10))+" at 3:45 pm.")
		}
	}
	return cell{strings.Join(parts, " "), m}
}

// writeCorpusCSV writes rows as CSV with a header.
func writeCorpusCSV(w *csv.Writer, rows [][]cell) error {
	if err := w.Write(corpusColumns); err != nil {
		return err
	}
	rec := make([]string, len(corpusColumns))
	for _, r := range rows {
		for i, c := range r {
			rec[i] = c.value
		}
		if err := w.Write(rec); err != nil {
			return err
		}
	}
	w.Flush()
	return w.Error()
}
