package auth

import (
	"strings"
	"testing"
)

func TestCredentialRoundTrip(t *testing.T) {
	id := NewAgentID()
	cred, hash := NewCredential(id)
	gotID, secret, err := ParseCredential(cred)
	if err != nil {
		t.Fatal(err)
	}
	if gotID != id {
		t.Errorf("agent id = %q, want %q", gotID, id)
	}
	if !CheckSecret(secret, hash) {
		t.Error("secret does not match its own hash")
	}
	if strings.Contains(hash, secret) {
		t.Error("hash contains the secret")
	}
	if CheckSecret(secret+"0", hash) {
		t.Error("a different secret matched")
	}
}

func TestParseCredentialRejects(t *testing.T) {
	id := NewAgentID()
	good, _ := NewCredential(id)
	for _, c := range []string{"", "ak_", "ak_x_y", "bearer", "at_" + good[3:], good + "0", strings.ToUpper(good), good[:len(good)-1]} {
		if _, _, err := ParseCredential(c); err == nil {
			t.Errorf("ParseCredential(%q) accepted", c)
		}
	}
}

func TestTokensDiffer(t *testing.T) {
	a, ha := NewToken()
	b, hb := NewToken()
	if a == b || ha == hb || Hash(a) != ha {
		t.Error("tokens are not fresh or hashes not stable")
	}
}
