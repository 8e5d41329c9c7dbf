package encryption

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/annexa/annexa/plugins/sdk"
)

// Key types reported in encryption.key.
const (
	KeyPrivate        = "private_key"          // PEM private key (PKCS#1, PKCS#8, SEC 1, ...)
	KeySSHPrivate     = "ssh_private_key"      // OpenSSH private key
	KeyPKCS12         = "pkcs12"               // .p12/.pfx bundle: holds a private key
	KeyAWSCredentials = "aws_credentials"      // ~/.aws/credentials with aws_secret_access_key
	KeyGCPAccount     = "gcp_service_account"  // service-account JSON with a private_key
	KeyGCPUser        = "gcp_user_credentials" // gcloud application_default_credentials.json
	KeyNone           = "none"                 // a configured key file that holds no key we know
)

// keyHead bounds what is read of a candidate file: key material is never
// kept, only the PEM type lines and a few bytes of an OpenSSH header.
const keyHead = 64 << 10

// Key is the attributes of encryption.key. It never holds any of the
// file's content.
type Key struct {
	Path string `json:"path"`
	Type string `json:"type"`
	// Format is the PEM block type ("RSA PRIVATE KEY", "PRIVATE KEY",
	// "ENCRYPTED PRIVATE KEY", "OPENSSH PRIVATE KEY") when there is one.
	Format string `json:"format,omitempty"`
	// PassphraseProtected is null when the format does not tell.
	PassphraseProtected *bool  `json:"passphrase_protected"`
	Mode                string `json:"mode"` // octal, e.g. "0600"
	Owner               string `json:"owner"`
	Group               string `json:"group"`
	Size                int64  `json:"size"`
	GroupReadable       bool   `json:"group_readable"`
	WorldReadable       bool   `json:"world_readable"`
	// Source is "key_files" or the asset root the file was found under.
	Source string `json:"source"`
	// Findings: world_readable, group_readable (of a file that holds a
	// key or credential).
	Findings []string `json:"findings"`
	// Secrets found in the text of a file of type embedded_secret (at
	// most 32; SecretsTotal counts them all). Never the secret itself.
	Secrets      []Secret `json:"secrets,omitempty"`
	SecretsTotal int      `json:"secrets_total,omitempty"`
	Error        string   `json:"error,omitempty"`
}

// KeyScan is the attributes of encryption.keyscan: how much of an asset
// root the key scan covered, so a clean result can be told from a
// truncated one.
type KeyScan struct {
	Root      string `json:"root"`
	Files     int    `json:"files"`
	Keys      int    `json:"keys"`
	Truncated bool   `json:"truncated"`
	Errors    int    `json:"errors"`
	// SecretScan is the content scan's account, with secret_scan on.
	SecretScan *SecretScan `json:"secret_scan,omitempty"`
}

// candidate says whether a file name may hold a key or a credential, so
// the scan opens only those.
func candidate(path string, size int64) bool {
	base := strings.ToLower(filepath.Base(path))
	switch filepath.Ext(base) {
	case ".pem", ".key", ".p12", ".pfx":
		return true
	case ".json":
		// Service-account and gcloud credential JSON files are 0.3 to
		// 4 KiB; datasets hold many large JSON files not worth opening.
		return size > 0 && size <= 16<<10 && (strings.Contains(base, "credential") || strings.Contains(base, "service") ||
			strings.Contains(base, "account") || strings.Contains(base, "key") || size <= 4<<10)
	}
	switch base {
	case "id_rsa", "id_dsa", "id_ecdsa", "id_ed25519", "id_ecdsa_sk", "id_ed25519_sk", "credentials":
		return true
	}
	return false
}

// classifyKey decides what a file's first bytes hold. name is the path
// (for .p12 and the AWS file), head at most keyHead bytes.
func classifyKey(name string, head []byte) (typ, format string, protected *bool) {
	base := strings.ToLower(filepath.Base(name))
	if ext := filepath.Ext(base); ext == ".p12" || ext == ".pfx" {
		// PKCS#12 always holds a private key, nearly always under a
		// password, which cannot be told without trying one.
		return KeyPKCS12, "PKCS12", nil
	}
	if base == "credentials" && bytes.Contains(head, []byte("aws_secret_access_key")) {
		return KeyAWSCredentials, "", boolp(false)
	}
	if bytes.HasPrefix(bytes.TrimSpace(head), []byte("{")) {
		compact := bytes.Join(bytes.Fields(head), nil)
		switch {
		case bytes.Contains(compact, []byte(`"type":"service_account"`)) && bytes.Contains(compact, []byte(`"private_key":`)):
			return KeyGCPAccount, "", boolp(false)
		case bytes.Contains(compact, []byte(`"type":"authorized_user"`)) && bytes.Contains(compact, []byte(`"refresh_token":`)):
			return KeyGCPUser, "", boolp(false)
		}
	}
	// A service-account JSON embeds a PEM key in a string: JSON first.
	if t, f, p, ok := pemPrivateKey(head); ok {
		return t, f, p
	}
	return KeyNone, "", nil
}

// pemPrivateKey finds the first PEM private-key block's type line. Only
// BEGIN lines are looked at; the base64 body is decoded only for OpenSSH
// keys, and only its first bytes, to read the cipher name.
func pemPrivateKey(head []byte) (typ, format string, protected *bool, ok bool) {
	rest := head
	for {
		i := bytes.Index(rest, []byte("-----BEGIN "))
		if i < 0 {
			return "", "", nil, false
		}
		rest = rest[i+len("-----BEGIN "):]
		j := bytes.Index(rest, []byte("-----"))
		if j < 0 || j > 64 {
			continue
		}
		label := string(rest[:j])
		if !strings.HasSuffix(label, "PRIVATE KEY") {
			continue
		}
		body := rest[j+5:]
		if end := bytes.Index(body, []byte("-----END ")); end >= 0 {
			body = body[:end]
		}
		switch {
		case label == "OPENSSH PRIVATE KEY":
			return KeySSHPrivate, label, opensshProtected(body), true
		case label == "ENCRYPTED PRIVATE KEY":
			return KeyPrivate, label, boolp(true), true
		default:
			// PKCS#1 / SEC 1 keys encrypted the OpenSSL way carry
			// "Proc-Type: 4,ENCRYPTED" headers.
			return KeyPrivate, label, boolp(bytes.Contains(body, []byte("Proc-Type: 4,ENCRYPTED"))), true
		}
	}
}

// opensshProtected reads the cipher name of an OpenSSH private key
// (PROTOCOL.key: "openssh-key-v1\0", then string ciphername); "none"
// means no passphrase. nil when the body is not that format.
func opensshProtected(body []byte) *bool {
	b64 := bytes.Join(bytes.Fields(body), nil)
	if len(b64) > 128 {
		b64 = b64[:128]
	}
	raw := make([]byte, base64.StdEncoding.DecodedLen(len(b64)))
	n, _ := base64.StdEncoding.Decode(raw, b64[:len(b64)/4*4])
	raw = raw[:n]
	const magic = "openssh-key-v1\x00"
	if !bytes.HasPrefix(raw, []byte(magic)) || len(raw) < len(magic)+4 {
		return nil
	}
	l := binary.BigEndian.Uint32(raw[len(magic):])
	if l > 64 || len(raw) < len(magic)+4+int(l) {
		return nil
	}
	return boolp(string(raw[len(magic)+4:len(magic)+4+int(l)]) != "none")
}

// inspectKey stats and classifies one file without following a final
// symlink. source is "key_files" or the root it was found under.
func inspectKey(path, source string, owners *sdk.Owners) Key {
	k := Key{Path: path, Source: source, Type: KeyNone, Findings: []string{}}
	// Refused before opening: a symlink is not followed, and opening a
	// FIFO would block until someone writes to it.
	if fi, err := os.Lstat(path); err == nil && !fi.Mode().IsRegular() {
		fillStat(&k, fi, owners)
		k.Error = fmt.Sprintf("not a regular file (%s)", fi.Mode().Type())
		return k
	}
	f, err := sdk.OpenNoFollow(path)
	if err != nil {
		k.Error = err.Error()
		if fi, serr := os.Lstat(path); serr == nil {
			fillStat(&k, fi, owners)
		}
		return k
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		k.Error = err.Error()
		return k
	}
	fillStat(&k, fi, owners)
	if !fi.Mode().IsRegular() {
		k.Error = fmt.Sprintf("not a regular file (%s)", fi.Mode().Type())
		return k
	}
	head := make([]byte, keyHead)
	n, err := io.ReadFull(f, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		k.Error = err.Error()
		return k
	}
	k.Type, k.Format, k.PassphraseProtected = classifyKey(path, head[:n])
	clear(head)
	k.findings()
	return k
}

func fillStat(k *Key, fi fs.FileInfo, owners *sdk.Owners) {
	st := sdk.StatOf(fi)
	perm := uint32(fi.Mode().Perm())
	if st.OK {
		perm = st.Mode
	}
	k.Mode = fmt.Sprintf("%04o", perm)
	k.Size = fi.Size()
	k.GroupReadable, k.WorldReadable = perm&0o040 != 0, perm&0o004 != 0
	k.Owner, k.Group = owners.Of(st)
}

func (k *Key) findings() {
	if k.Type == KeyNone || k.Error != "" {
		return
	}
	if k.WorldReadable {
		k.Findings = append(k.Findings, "world_readable")
	}
	if k.GroupReadable {
		k.Findings = append(k.Findings, "group_readable")
	}
}

// scanKeys walks one asset root for key and credential files, opening only
// candidates by name, at most maxFiles entries.
func scanKeys(ctx context.Context, root string, maxFiles int, owners *sdk.Owners) ([]Key, KeyScan, error) {
	return scanRoot(ctx, root, scanOpts{keys: true, maxFiles: maxFiles}, owners)
}

// scanOpts says what one walk of a root looks for.
type scanOpts struct {
	keys     bool // key and credential files, by name
	maxFiles int  // entries looked at
	secrets  *secretOpts
}

// scanRoot walks one root once for both scans: key files by name, and
// (with opts.secrets) embedded secrets in the files the content scan
// reads. A file that is itself a key is reported as such and not
// content-scanned (its whole content is the secret).
func scanRoot(ctx context.Context, root string, opts scanOpts, owners *sdk.Owners) ([]Key, KeyScan, error) {
	sum := KeyScan{Root: root}
	var keys []Key
	errStop := errors.New("stop")
	// WalkDir does not descend into a root that is a symlink; walk its
	// target (paths are then reported under the target).
	top := root
	if p, err := filepath.EvalSymlinks(root); err == nil {
		top = p
	}
	var sec *secretWalk
	if opts.secrets != nil {
		sec = opts.secrets.start(ctx)
		defer sec.stop()
		sum.SecretScan = &sec.sum
	}
	err := filepath.WalkDir(top, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if path == top {
				return err
			}
			sum.Errors++
			return nil
		}
		if cerr := ctx.Err(); cerr != nil {
			return cerr
		}
		if sum.Files >= opts.maxFiles {
			sum.Truncated = true
			return errStop
		}
		if d.IsDir() {
			if sec != nil && path != top && sec.enterDir(path, d.Name()) && !opts.keys {
				return filepath.SkipDir
			}
			return nil
		}
		sum.Files++
		if !d.Type().IsRegular() {
			return nil // symlinks, FIFOs, sockets, devices: never opened
		}
		var size int64 = -1
		info := func() (fs.FileInfo, bool) {
			fi, err := d.Info()
			if err != nil {
				sum.Errors++
				return nil, false
			}
			size = fi.Size()
			return fi, true
		}
		if opts.keys && strings.HasSuffix(strings.ToLower(path), ".json") {
			if _, ok := info(); !ok {
				return nil
			}
		}
		if opts.keys && candidate(path, max(size, 0)) {
			k := inspectKey(path, root, owners)
			if k.Error != "" {
				sum.Errors++
			}
			if k.Type != KeyNone {
				keys = append(keys, k)
				return nil
			}
		}
		if sec == nil || !sec.wants(path, d.Name()) {
			return nil
		}
		fi, ok := info()
		if !ok {
			return nil
		}
		if k, found := sec.scan(path, fi, root, owners); found {
			keys = append(keys, k)
		}
		return nil
	})
	if err != nil && !errors.Is(err, errStop) {
		return keys, sum, err
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i].Path < keys[j].Path })
	for _, k := range keys {
		if k.Type != KeyEmbedded {
			sum.Keys++
		}
	}
	return keys, sum, nil
}
