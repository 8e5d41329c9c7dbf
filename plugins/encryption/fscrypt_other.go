//go:build !linux

package encryption

func fscryptPolicy(string) Fscrypt {
	return Fscrypt{State: "unsupported", Detail: "fscrypt is Linux only"}
}
