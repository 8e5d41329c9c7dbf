// Package auth makes and checks the collector's secrets: one-time
// enrollment tokens and per-agent credentials. Only SHA-256 hashes of them
// are ever stored; the secrets carry 256 bits of randomness, so a plain
// hash (no slow KDF) is enough to make a stolen database useless for
// impersonating agents.
package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"strings"
)

const (
	tokenPrefix      = "at_"
	credentialPrefix = "ak_"
	agentIDLen       = 32 // hex characters
	secretLen        = 64 // hex characters
)

// ErrMalformed means a credential does not have the shape ak_<id>_<secret>.
var ErrMalformed = errors.New("credential is not of the form ak_<agent id>_<secret>")

func randomHex(nbytes int) string {
	b := make([]byte, nbytes)
	// crypto/rand.Read never returns an error on supported platforms.
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Hash is the stored form of a token or credential secret.
func Hash(secret string) string {
	h := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(h[:])
}

// NewToken returns a fresh enrollment token and its hash.
func NewToken() (token, hash string) {
	token = tokenPrefix + randomHex(secretLen/2)
	return token, Hash(token)
}

// NewAgentID returns a random agent id (hex, so it never contains "_").
func NewAgentID() string { return randomHex(agentIDLen / 2) }

// NewCredential returns a credential for agentID and the hash to store.
// The id is inside the credential so the collector finds the agent row
// with one lookup and compares one hash.
func NewCredential(agentID string) (credential, hash string) {
	secret := randomHex(secretLen / 2)
	return credentialPrefix + agentID + "_" + secret, Hash(secret)
}

// ParseCredential splits a credential into agent id and secret.
func ParseCredential(credential string) (agentID, secret string, err error) {
	rest, ok := strings.CutPrefix(credential, credentialPrefix)
	if !ok {
		return "", "", ErrMalformed
	}
	agentID, secret, ok = strings.Cut(rest, "_")
	if !ok || len(agentID) != agentIDLen || len(secret) != secretLen || !isHex(agentID) || !isHex(secret) {
		return "", "", ErrMalformed
	}
	return agentID, secret, nil
}

// CheckSecret compares a presented secret with a stored hash in constant time.
func CheckSecret(secret, storedHash string) bool {
	return subtle.ConstantTimeCompare([]byte(Hash(secret)), []byte(storedHash)) == 1
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
