package main

import (
	"crypto/x509"
	"strings"
)

// renewAdvice says how to renew the collector's certificate: `init
// --renew` only works for one its own CA issued; an operator's own
// certificate is replaced by installing the new one.
func renewAdvice(leaf *x509.Certificate) string {
	if strings.HasPrefix(leaf.Issuer.CommonName, "Annexa collector CA") {
		return "renew it with `annexa-collector init --renew --name ...`"
	}
	return "it is not from the collector's own CA: install its successor with `annexa-collector init --cert F --key F` (or replace the --tls-cert/--tls-key files)"
}
