package pii

import (
	"strings"
	"unicode"
)

type hint int

const (
	hintNone hint = iota
	hintSSN
	hintDOB
	// hintName: the column holds person names by its name alone
	// (first_name, surname).
	hintName
	// hintWeakName: the name is ambiguous ("name", "author"): a value
	// counts only if it looks like a person's name.
	hintWeakName
	hintAddress
	// hintVersion: dotted quads here are versions, not addresses.
	hintVersion
)

// Column names are compared after normalising: camelCase split, lower
// case, every run of other characters turned into one "_".
var columnHints = map[string]hint{
	"ssn": hintSSN, "social_security_number": hintSSN, "social_security": hintSSN, "ssn_number": hintSSN,

	"dob": hintDOB, "date_of_birth": hintDOB, "birth_date": hintDOB, "birthdate": hintDOB, "birthday": hintDOB,
	"d_o_b": hintDOB, "birth_day": hintDOB, "geburtsdatum": hintDOB, "date_naissance": hintDOB, "fecha_nacimiento": hintDOB,

	"first_name": hintName, "firstname": hintName, "last_name": hintName, "lastname": hintName,
	"surname": hintName, "given_name": hintName, "family_name": hintName, "full_name": hintName,
	"fullname": hintName, "middle_name": hintName, "maiden_name": hintName, "forename": hintName,
	"customer_name": hintName, "patient_name": hintName, "person_name": hintName, "employee_name": hintName,
	"contact_name": hintName, "display_name": hintName, "vorname": hintName, "nachname": hintName,
	"prenom": hintName, "nom": hintName, "nombre": hintName, "apellido": hintName,

	"name": hintWeakName, "author": hintWeakName, "contact": hintWeakName, "owner": hintWeakName,
	"user": hintWeakName, "customer": hintWeakName, "patient": hintWeakName, "speaker": hintWeakName,

	"address": hintAddress, "street": hintAddress, "street_address": hintAddress, "home_address": hintAddress,
	"postal_address": hintAddress, "mailing_address": hintAddress, "billing_address": hintAddress,
	"shipping_address": hintAddress, "address_line": hintAddress, "address_line1": hintAddress,
	"address_line_1": hintAddress, "address_line2": hintAddress, "address_line_2": hintAddress,
	"addr": hintAddress, "street_name": hintAddress, "residence": hintAddress, "adresse": hintAddress,
	"direccion": hintAddress, "strasse": hintAddress,

	"version": hintVersion, "ver": hintVersion, "release": hintVersion, "build": hintVersion,
	"firmware": hintVersion, "firmware_version": hintVersion, "sw_version": hintVersion,
	"software_version": hintVersion, "os_version": hintVersion, "app_version": hintVersion,
	"oid": hintVersion, "model_version": hintVersion,
}

// NormaliseColumn gives the form column hints are matched in:
// "firstName", "First Name" and "first-name" all become "first_name".
func NormaliseColumn(c string) string {
	// Only the last path element of a nested JSON key counts.
	if i := strings.LastIndexAny(c, "./"); i >= 0 && i+1 < len(c) {
		c = c[i+1:]
	}
	var b strings.Builder
	prevLower, sep := false, false
	for _, r := range c {
		switch {
		case unicode.IsUpper(r):
			if prevLower {
				b.WriteByte('_')
			}
			b.WriteRune(unicode.ToLower(r))
			prevLower, sep = false, false
		case unicode.IsLetter(r) || unicode.IsDigit(r):
			b.WriteRune(r)
			prevLower, sep = true, false
		default:
			if b.Len() > 0 && !sep {
				b.WriteByte('_')
				sep = true
			}
			prevLower = false
		}
	}
	return strings.TrimSuffix(b.String(), "_")
}

func columnHint(column string) hint {
	if column == "" {
		return hintNone
	}
	return columnHints[NormaliseColumn(column)]
}
