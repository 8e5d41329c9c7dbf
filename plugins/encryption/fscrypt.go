package encryption

import "fmt"

// Fscrypt is the fscrypt policy of a directory, as
// FS_IOC_GET_ENCRYPTION_POLICY_EX returns it (linux/fscrypt.h).
type Fscrypt struct {
	// State is "encrypted", "none" (the filesystem supports fscrypt and
	// the directory has no policy), "unsupported" (the filesystem cannot
	// do fscrypt, or lacks the encrypt feature) or "error".
	State string `json:"state"`
	// PolicyVersion is 1 or 2 (v2 is the one to use; v1 is deprecated).
	PolicyVersion int    `json:"policy_version,omitempty"`
	Contents      string `json:"contents,omitempty"`  // e.g. AES-256-XTS
	Filenames     string `json:"filenames,omitempty"` // e.g. AES-256-CTS
	Detail        string `json:"detail,omitempty"`
}

// fscryptModes names FSCRYPT_MODE_* values.
var fscryptModes = map[byte]string{
	1: "AES-256-XTS", 4: "AES-256-CTS", 5: "AES-128-CBC", 6: "AES-128-CTS",
	7: "SM4-XTS", 8: "SM4-CTS", 9: "Adiantum", 10: "AES-256-HCTR2",
}

func fscryptMode(m byte) string {
	if n, ok := fscryptModes[m]; ok {
		return n
	}
	return fmt.Sprintf("mode-%d", m)
}

// decodeFscryptPolicy decodes the policy bytes the ioctl filled in (n of
// them): byte 0 is the version (0 means v1, 2 means v2), then the
// contents and filenames modes.
func decodeFscryptPolicy(b []byte) (Fscrypt, error) {
	if len(b) < 3 {
		return Fscrypt{}, fmt.Errorf("fscrypt policy of %d bytes", len(b))
	}
	f := Fscrypt{State: "encrypted", Contents: fscryptMode(b[1]), Filenames: fscryptMode(b[2])}
	switch {
	case b[0] == 0 && len(b) >= 12:
		f.PolicyVersion = 1
	case b[0] == 2 && len(b) >= 24:
		f.PolicyVersion = 2
	default:
		return Fscrypt{}, fmt.Errorf("fscrypt policy version byte %d with %d bytes is not known", b[0], len(b))
	}
	return f, nil
}
