package auth

import "strings"

// apiKeyPrefix marks API keys for people and scripts, so that an agent
// credential sent by mistake is recognised as such.
const apiKeyPrefix = "ok_"

// NewAPIKey returns a new API key, its id and the hash to store.
func NewAPIKey() (key, id, hash string) {
	id = randomHex(agentIDLen / 2)
	secret := randomHex(secretLen / 2)
	return apiKeyPrefix + id + "_" + secret, id, Hash(secret)
}

// ParseAPIKey splits an API key into id and secret.
func ParseAPIKey(key string) (id, secret string, err error) {
	rest, ok := strings.CutPrefix(key, apiKeyPrefix)
	if !ok {
		return "", "", ErrMalformedAPIKey
	}
	id, secret, ok = strings.Cut(rest, "_")
	if !ok || len(id) != agentIDLen || len(secret) != secretLen || !isHex(id) || !isHex(secret) {
		return "", "", ErrMalformedAPIKey
	}
	return id, secret, nil
}

// ErrMalformedAPIKey means a key does not have the shape ok_<id>_<secret>.
var ErrMalformedAPIKey = errorString("API key is not of the form ok_<id>_<secret>; create one with `annexa-collector apikey create`")

type errorString string

func (e errorString) Error() string { return string(e) }
