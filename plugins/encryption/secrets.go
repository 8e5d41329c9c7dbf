package encryption

import (
	"bufio"
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"

	"github.com/annexa/annexa/plugins/sdk"
)

// Secret is one credential found inside a file by the content scan. It
// never holds the secret or any of its random part: the fingerprint is
// an HMAC under a key that never leaves the host, and the hint is the
// documented prefix of the token type at most.
type Secret struct {
	Rule     string `json:"rule"`
	Severity string `json:"severity"`
	Line     int    `json:"line"`
	// Cell is the 0-based index of a notebook cell and Part where in it
	// ("source", "outputs", "metadata"); absent outside notebooks.
	Cell        *int   `json:"cell,omitempty"`
	Part        string `json:"part,omitempty"`
	Fingerprint string `json:"fingerprint"`
	Hint        string `json:"hint,omitempty"`
}

// SecretRule describes one detector; the table below is documented in
// README.md and docs/evidence.md.
type SecretRule struct {
	ID          string
	Severity    string
	Description string
	// anchors: one must occur in a line before the expression runs
	// (lower case when fold is set: they then match in any case).
	anchors [][]byte
	fold    bool
	re      *regexp.Regexp
	// group is the submatch holding the secret.
	group int
	// prefixes are the documented, non-secret starts of the token; the
	// longest one the token starts with is its hint.
	prefixes []string
	// check, when set, rejects a candidate (placeholders, low entropy).
	check func(secret []byte, ctx *lineContext) bool
	// back and after bound where a match may lie around an anchor: back
	// bytes before it (1 by default, for the word boundary), after bytes
	// after it (the longest token and its context).
	back, after int
	// assign: the anchor is a setting's name and must be followed by an
	// assignment (= or :), which rules out "tokenizer" and "password
	// reset" before the expression runs.
	assign bool
	// anchored: the expression starts at the anchor (with ^), and runs
	// once per anchor, from it.
	anchored bool
}

// assigned says whether an assignment follows hay[i:], past closing
// quotes and blanks.
func assigned(hay []byte, i int) bool {
	for n := 0; i < len(hay) && n < 8; i, n = i+1, n+1 {
		switch hay[i] {
		case '"', '\'', '\\', ' ', '\t':
		case '=', ':':
			return true
		default:
			return false
		}
	}
	return false
}

func (r *SecretRule) before() int {
	if r.back == 0 {
		return 1
	}
	return r.back
}

// lineContext is what a rule's check may look at besides the secret.
type lineContext struct {
	class fileClass
	// quoted: the value was in quotes (group 2 of the generic rule).
	quoted bool
	key    string
}

type fileClass int

const (
	classConfig fileClass = iota // .env, YAML, INI, TOML, shell: unquoted values are values
	classCode                    // Python, notebooks, R, JS: an unquoted value is an expression
	classNetrc                   // .netrc-like: "password" lines
)

// Severities of secret rules.
const (
	sevHigh   = "high"
	sevMedium = "medium"
)

func anchors(s ...string) [][]byte {
	out := make([][]byte, len(s))
	for i, a := range s {
		out[i] = []byte(a)
	}
	return out
}

// Rule ids.
const (
	RuleHuggingFace    = "huggingface.token"
	RuleOpenAI         = "openai.api_key"
	RuleAnthropic      = "anthropic.api_key"
	RuleAWSKeyID       = "aws.access_key_id"
	RuleAWSSecret      = "aws.secret_access_key"
	RuleGitHub         = "github.token"
	RuleGitLab         = "gitlab.token"
	RuleSlackToken     = "slack.token"
	RuleSlackWebhook   = "slack.webhook"
	RuleGoogleAPIKey   = "google.api_key"
	RuleStripe         = "stripe.live_key"
	RulePEM            = "private_key.pem"
	RulePEMEncrypted   = "private_key.pem_encrypted"
	RuleWandB          = "wandb.api_key"
	RuleNetrc          = "netrc.password"
	RuleURLCredentials = "url.credentials"
	RuleGenericAssign  = "generic.secret_assignment"
	maxSecretsPerFile  = 32
	secretWindow       = 64 << 10
	secretOverlap      = 1 << 10 // longer than any token a rule matches
	pemBodyFingerprint = 4096    // base64 characters of a PEM body that name the key (all of an RSA-3072 key; the first ones are the same ASN.1 or OpenSSH header in every key)
	pemMinBody         = 32      // fewer: a marker in prose or code, not a key
	pemMaxLines        = 128
)

// The expressions are our own, written from the formats the vendors
// document (prefix, alphabet, length). Word boundaries keep a token from
// matching inside a longer identifier.
var secretRules = []*SecretRule{
	{ID: RuleHuggingFace, after: 50, Severity: sevHigh, Description: "Hugging Face user or organisation access token (hf_ or api_org_ and 34 letters)",
		anchors: anchors("hf_", "api_org_"), re: regexp.MustCompile(`\b((?:hf_|api_org_)[A-Za-z]{34})\b`), group: 1,
		prefixes: []string{"hf_", "api_org_"}},
	{ID: RuleAnthropic, after: 230, Severity: sevHigh, Description: "Anthropic API or admin key (sk-ant-api03-, sk-ant-admin01-, …)",
		anchors: anchors("sk-ant-"), re: regexp.MustCompile(`\b(sk-ant-[a-z]{3,5}\d\d-[A-Za-z0-9_-]{32,200})`), group: 1,
		prefixes: []string{"sk-ant-"}},
	{ID: RuleOpenAI, after: 280, Severity: sevHigh, Description: "OpenAI API key: sk-proj-, sk-svcacct-, sk-admin- keys, or a legacy sk- key with the T3BlbkFJ marker",
		anchors: anchors("sk-"),
		re:      regexp.MustCompile(`\b(sk-(?:proj|svcacct|admin)-[A-Za-z0-9_-]{40,250}|sk-[A-Za-z0-9]{20}T3BlbkFJ[A-Za-z0-9]{20})(?:[^A-Za-z0-9_-]|$)`),
		group:   1, prefixes: []string{"sk-proj-", "sk-svcacct-", "sk-admin-", "sk-"}},
	{ID: RuleAWSKeyID, after: 30, Severity: sevMedium, Description: "AWS access key ID (AKIA long-term, ASIA temporary, and 16 base-32 characters): not a secret itself, but it names a key whose secret is likely near (reported apart when found)",
		anchors: anchors("AKIA", "ASIA"), re: regexp.MustCompile(`\b((?:AKIA|ASIA)[A-Z2-7]{16})\b`), group: 1,
		prefixes: []string{"AKIA", "ASIA"}, check: notPlaceholder}, // AKIAIOSFODNN7EXAMPLE is AWS's documentation key
	{ID: RuleAWSSecret, after: 90, Severity: sevHigh, Description: "AWS secret access key: 40 base-64 characters assigned to aws_secret_access_key / SecretAccessKey, or within 2 lines after an access key ID",
		anchors: anchors("secret_access_key", "secretaccesskey", "aws_secret_key", "aws-secret-access-key"), fold: true, assign: true,
		anchored: true,
		re:       regexp.MustCompile(`^(?i)(?:secret_?access_?key|aws_secret_key|aws-secret-access-key)\\?["']?\s*(?::=|=>|[:=])\s*\\?["']?([A-Za-z0-9/+]{40})(?:[^A-Za-z0-9/+=]|$)`),
		group:    1, check: mixedCase},
	{ID: RuleGitHub, after: 260, Severity: sevHigh, Description: "GitHub token: classic personal (ghp_), OAuth (gho_), user-to-server (ghu_), server-to-server (ghs_), refresh (ghr_), fine-grained personal (github_pat_)",
		anchors: anchors("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"), re: regexp.MustCompile(`\b(gh[pousr]_[A-Za-z0-9]{36,251}|github_pat_[A-Za-z0-9_]{82})\b`), group: 1,
		prefixes: []string{"ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"}},
	{ID: RuleGitLab, after: 330, Severity: sevHigh, Description: "GitLab personal, deploy, runner or trigger token (glpat-, gldt-, glrt-, glptt- and 20 or more characters)",
		anchors: anchors("glpat-", "gldt-", "glrt-", "glptt-"), re: regexp.MustCompile(`\b((?:glpat|gldt|glrt|glptt)-[A-Za-z0-9_.-]{20,310})`), group: 1,
		prefixes: []string{"glpat-", "gldt-", "glrt-", "glptt-"}},
	{ID: RuleSlackToken, after: 290, Severity: sevHigh, Description: "Slack bot, user, app-level, refresh or legacy token (xoxb-, xoxp-, xoxa-, xoxr-, xoxs- with numeric ids)",
		anchors: anchors("xox"), re: regexp.MustCompile(`\b(xox[baprs]-[0-9]{6,20}-[0-9A-Za-z-]{8,250})`), group: 1,
		prefixes: []string{"xoxb-", "xoxp-", "xoxa-", "xoxr-", "xoxs-"}},
	{ID: RuleSlackWebhook, after: 200, back: 9, Severity: sevHigh, Description: "Slack incoming-webhook URL (https://hooks.slack.com/services/T…/B…/…)",
		anchors: anchors("hooks.slack.com"), re: regexp.MustCompile(`(https://hooks\.slack\.com/(?:services|workflows|triggers)/T[A-Z0-9]{6,}/[A-Z0-9]{6,}/[A-Za-z0-9]{16,})`), group: 1,
		prefixes: []string{"https://hooks.slack.com/"}},
	{ID: RuleGoogleAPIKey, after: 45, Severity: sevHigh, Description: "Google API key (AIza and 35 characters)",
		anchors: anchors("AIza"), re: regexp.MustCompile(`\b(AIza[0-9A-Za-z_-]{35})(?:[^0-9A-Za-z_-]|$)`), group: 1,
		prefixes: []string{"AIza"}},
	{ID: RuleStripe, after: 270, back: 4, Severity: sevHigh, Description: "Stripe live secret or restricted key (sk_live_, rk_live_); test keys are not reported",
		anchors: anchors("_live_"), re: regexp.MustCompile(`\b((?:sk|rk)_live_[0-9A-Za-z]{20,247})\b`), group: 1,
		prefixes: []string{"sk_live_", "rk_live_"}},
	{ID: RulePEM, after: 40, back: 32, Severity: sevHigh, Description: "PEM private key block (RSA, EC, DSA, OpenSSH, PKCS#8, PGP) with a key body, inside a file that is not itself a key file",
		anchors: anchors("PRIVATE KEY"), re: regexp.MustCompile(`-----BEGIN ((?:RSA |DSA |EC |OPENSSH |PGP |ENCRYPTED )?PRIVATE KEY(?: BLOCK)?)-----`), group: 1},
	{ID: RulePEMEncrypted, Severity: sevMedium, Description: "PEM private key block under a passphrase (ENCRYPTED PRIVATE KEY, or Proc-Type: 4,ENCRYPTED)"},
	{ID: RuleWandB, after: 220, Severity: sevHigh, Description: "Weights & Biases API key assigned to WANDB_API_KEY or passed to wandb.login(key=…) (40 hex characters, the longer new format, or local- keys)",
		anchors: anchors("wandb"), fold: true,
		re:    regexp.MustCompile(`(?i)(?:wandb_api_key\\?["']?\s*(?::=|=>|[:=])|wandb\.login\([^)]{0,80}\bkey\s*=)\s*\\?["']?((?:local-)?[A-Za-z0-9_]{40,100})\b`),
		group: 1, check: notPlaceholder},
	{ID: RuleNetrc, after: 220, Severity: sevHigh, Description: "password of a .netrc machine entry (machine … login … password …), as curl, git, pip and wandb read them",
		anchors: anchors("password"), fold: true,
		re:    regexp.MustCompile(`(?:^|\s)password\s+(\S{4,200})`),
		group: 1, check: netrcValue},
	{ID: RuleURLCredentials, after: 300, back: 24, Severity: sevHigh, Description: "a password in a URL's user information (scheme://user:password@host), e.g. a database or proxy URL",
		anchors: anchors("://"), re: regexp.MustCompile(`\b[A-Za-z][A-Za-z0-9+.-]{1,20}://[^\s:/@"'<>\\]{1,64}:([^\s:/@"'<>\\]{6,128})@[A-Za-z0-9.-]+`),
		group: 1, check: urlPassword},
	{ID: RuleGenericAssign, after: 280, anchored: true, Severity: sevMedium, Description: "a literal value of 8+ characters, mixing letters with digits or symbols and not a placeholder or variable, assigned to a name ending in password, passwd, pwd, secret, api_key, or token (only token alone or access_, auth_, api_, bearer_, refresh_, session_, private_, secret_, hf_, hub_, github_ or gitlab_token: pad_token and eos_token are tokenizer settings)",
		anchors: anchors("password", "passwd", "pwd", "secret", "api_key", "apikey", "api-key", "token"), fold: true, assign: true,
		re:    regexp.MustCompile(`^(?i)(password|passwd|pwd|secret|api_?key|api-key|token)\\?["']?\s*(?::=|=>|[:=])\s*(\\?["']|)([^\s"'\\,;#` + "`" + `]{8,200})`),
		group: 3, check: genericValue},
}

// secretRuleByID finds a rule for its severity and description.
func secretRuleByID(id string) *SecretRule {
	for _, r := range secretRules {
		if r.ID == id {
			return r
		}
	}
	return nil
}

// SecretRules lists the detectors (id, severity, description) for docs
// and tests.
func SecretRules() []SecretRule {
	out := make([]SecretRule, len(secretRules))
	for i, r := range secretRules {
		out[i] = SecretRule{ID: r.ID, Severity: r.Severity, Description: r.Description}
	}
	return out
}

// awsNearSecret finds a bare 40-character secret key next to an access
// key ID (the CSV AWS hands out, `export` lines, a boto3 call).
var awsNearSecret = regexp.MustCompile(`(?:^|[^A-Za-z0-9/+=])([A-Za-z0-9/+]{40})(?:[^A-Za-z0-9/+=]|$)`)

// placeholders are values people leave in sample configs.
var placeholders = []string{"example", "changeme", "change_me", "change-me", "your", "xxxx", "****", "placeholder", "dummy",
	"redacted", "replace", "insert", "todo", "fixme", "sample", "<", ">", "${", "{{", "%(", "$(", "env(", "environ", "getenv",
	"secretkeyref", "valuefrom", "vault:", "/run/secrets", "****"}

func notPlaceholder(v []byte, _ *lineContext) bool {
	l := strings.ToLower(string(v))
	for _, p := range placeholders {
		if strings.Contains(l, p) {
			return false
		}
	}
	return true
}

func mixedCase(v []byte, lc *lineContext) bool {
	var lower, upper, digit bool
	for _, c := range v {
		switch {
		case c >= 'a' && c <= 'z':
			lower = true
		case c >= 'A' && c <= 'Z':
			upper = true
		case c >= '0' && c <= '9':
			digit = true
		}
	}
	return lower && upper && digit && notPlaceholder(v, lc)
}

// netrcValue: a .netrc password, not the word "password" in prose. In
// a file named like netrc any "password X" counts; elsewhere the line
// must also name a machine (the one-line form).
func netrcValue(v []byte, lc *lineContext) bool {
	if lc.class != classNetrc && lc.key != "machine" {
		return false
	}
	// A template or a variable ({self.password}, $PASS, %s) is code that
	// writes a .netrc, not one.
	return notPlaceholder(v, lc) && !bytes.ContainsAny(v, "{}$%<>")
}

// genericValue keeps the generic rule's false positives low: the value
// must be a literal (quoted in code), long enough, varied enough and not
// a placeholder, a variable or a boolean.
func genericValue(v []byte, lc *lineContext) bool {
	if lc.class == classCode && !lc.quoted {
		return false // password = args.password, token = get_token()
	}
	if key := strings.ToLower(strings.TrimRight(lc.key, `\"'`)); strings.HasSuffix(key, "token") && !tokenKey(key) {
		return false
	}
	l := strings.ToLower(string(v))
	switch l {
	case "none", "null", "nil", "true", "false", "undefined", "required", "optional", "string", "password", "secret", "hidden", "masked":
		return false
	}
	// A value naming the thing ("db_password_prod", "my-app-secret") is
	// a reference, not the secret.
	for _, word := range []string{"pass", "pwd", "secret", "token", "key"} {
		if strings.Contains(l, word) {
			return false
		}
	}
	switch v[0] {
	case '$', '!', '&', '*', '%', '@', '[', '{', '(', '<', '.', '/':
		return false // variables, YAML tags/anchors/aliases, lists, paths
	}
	if !notPlaceholder(v, lc) || bytes.Contains(v, []byte("://")) || bytes.Contains(v, []byte("(")) {
		return false
	}
	var lower, upper, digit, other int
	for _, c := range v {
		switch {
		case c >= 'a' && c <= 'z':
			lower++
		case c >= 'A' && c <= 'Z':
			upper++
		case c >= '0' && c <= '9':
			digit++
		default:
			other++
		}
	}
	classes := 0
	for _, n := range []int{lower, upper, digit, other} {
		if n > 0 {
			classes++
		}
	}
	if lower+upper == 0 || classes < 2 {
		return false // numbers (ports, sizes), single-case words
	}
	// Identifiers and words mix classes but repeat letters: ask for some
	// entropy, scaled for short values (8 characters hold 3 bits at most).
	return entropy(v) >= min(3.0, 0.8*math.Log2(float64(len(v))))
}

// tokenKey: names of settings that hold credentials, among the many
// *_token settings of ML configs (pad_token, eos_token, max_tokens).
func tokenKey(key string) bool {
	i := strings.LastIndexAny(key, "._-")
	name := key[i+1:]
	if name != "token" {
		name = strings.TrimSuffix(name, "token")
	} else if i >= 0 {
		name = key[:i]
		if j := strings.LastIndexAny(name, "._-"); j >= 0 {
			name = name[j+1:]
		}
	} else {
		return true // "token" alone
	}
	switch name {
	case "access", "auth", "api", "bearer", "refresh", "session", "private", "secret", "hf", "hub", "github", "gitlab", "token", "":
		return true
	}
	return false
}

// urlPassword: the password of user:password@host in a URL, unless it is
// a placeholder or a variable.
func urlPassword(v []byte, lc *lineContext) bool {
	l := strings.ToLower(string(v))
	switch l {
	case "password", "passwd", "pass", "secret", "token", "pwd":
		return false
	}
	switch v[0] {
	case '$', '{', '%', '<', '*':
		return false
	}
	return notPlaceholder(v, lc)
}

// entropy is the Shannon entropy of b in bits per byte.
func entropy(b []byte) float64 {
	var counts [256]int
	for _, c := range b {
		counts[c]++
	}
	var h float64
	n := float64(len(b))
	for _, c := range counts {
		if c > 0 {
			p := float64(c) / n
			h -= p * math.Log2(p)
		}
	}
	return h
}

// classify says how a file's values are written, from its name.
func classify(name string) fileClass {
	base := strings.ToLower(filepath.Base(name))
	switch base {
	case ".netrc", "_netrc", "netrc":
		return classNetrc
	}
	switch filepath.Ext(base) {
	case ".py", ".ipynb", ".r", ".jl", ".js", ".ts", ".scala", ".java", ".go", ".rb", ".json":
		return classCode
	}
	return classConfig
}

// secretScanner scans files for embedded credentials. The zero value is
// not usable: make it with newSecretScanner.
type secretScanner struct {
	key []byte // HMAC key for fingerprints
	// everyLine turns the block prefilter off (the fuzz target checks
	// that it changes nothing).
	everyLine bool
}

func newSecretScanner(key []byte) *secretScanner { return &secretScanner{key: key} }

// fingerprint names a secret without revealing it. A plain SHA-256 of a
// token could be checked against a guessed or leaked token by anyone
// holding the evidence; an HMAC under a key kept on the host cannot, and
// still lets the same token be recognised across files and collections
// on that host.
func (s *secretScanner) fingerprint(secret []byte) string {
	m := hmac.New(sha256.New, s.key)
	m.Write(secret)
	return hex.EncodeToString(m.Sum(nil)[:16])
}

// fileScan is the result of scanning one file.
type fileScan struct {
	Secrets []Secret
	Total   int   // findings, also those beyond maxSecretsPerFile
	Bytes   int64 // bytes read
}

// scanState follows one file through its lines.
type scanState struct {
	s       *secretScanner
	class   fileClass
	nb      bool // a notebook: track cells
	line    int
	res     fileScan
	awsLine int // last line with an AWS access key ID, 0 for none
	// notebook cell tracking
	cell       int
	cellIndent int
	part       string
	// pending PEM body
	pem     *pemBody
	pemSkip int
	matched [][2]int // spans found in the current window, to drop overlaps
	regions [][2]int
	hits    [][][2]int // per rule: anchors in the current window (offset, length)
	pending []placed
}

// pemBody gathers the first base-64 characters of a PEM block's body,
// whether the block is written over many lines or on one line with \n
// escapes (JSON, notebooks, Python strings).
type pemBody struct {
	finding   Secret
	body      []byte
	seg       []byte
	lines     int
	encrypted bool
	escape    bool
	done      bool
	dashes    int // consecutive dashes just seen
}

func (p *pemBody) feed(b []byte) {
	for _, c := range b {
		if p.done {
			return
		}
		if p.escape {
			if c == '\\' {
				continue // \\n: a \n escaped once more (Python source in JSON)
			}
			p.escape = false
			if c == 'n' || c == 'r' || c == '\n' {
				p.endSegment()
			}
			continue
		}
		switch {
		case c == '\\':
			p.escape = true
		case c == '\n':
			p.endSegment()
		case c == '-':
			// Five dashes open the END line, or the next block: the
			// body is over. Stopping here also keeps a line packed with
			// BEGIN lines from being fed once per block (quadratic).
			if p.dashes++; p.dashes >= 5 {
				p.endSegment()
				p.done = true
				return
			}
			if len(p.seg) < 256 {
				p.seg = append(p.seg, c)
			}
			continue
		case c == ':' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '+' || c == '/' || c == '=' || c == ',':
			if len(p.seg) < 256 {
				p.seg = append(p.seg, c)
			}
		}
		p.dashes = 0
	}
}

// endSegment takes one line of the block: a header line (Proc-Type,
// DEK-Info) marks an encrypted legacy key; an END line closes the block.
func (p *pemBody) endSegment() {
	seg := p.seg
	p.seg = p.seg[:0]
	p.lines++
	switch {
	case bytes.Contains(seg, []byte("-----")):
		p.done = true
	case bytes.Contains(seg, []byte(":")):
		if bytes.Contains(seg, []byte("ENCRYPTED")) {
			p.encrypted = true
		}
	default:
		for _, c := range seg {
			if c != ',' && c != '-' && len(p.body) < pemBodyFingerprint {
				p.body = append(p.body, c)
			}
		}
	}
	if len(p.body) >= pemBodyFingerprint || p.lines >= pemMaxLines {
		p.done = true
	}
}

// scan reads r (at most limit bytes) line by line. Lines longer than the
// window are scanned in overlapping windows, so memory stays bounded and
// a token across a window edge is still found once. check is called
// between windows and may stop the scan (time bound, cancellation).
func (s *secretScanner) scan(r io.Reader, name string, limit int64, check func() error) (fileScan, error) {
	st := &scanState{s: s, class: classify(name), cell: -1, cellIndent: -1}
	st.hits = make([][][2]int, len(secretRules))
	st.nb = strings.EqualFold(filepath.Ext(name), ".ipynb")
	buf := scanBuffers.Get().(*scanBuffer)
	defer scanBuffers.Put(buf)
	br := buf.br
	br.Reset(io.LimitReader(r, limit))
	defer br.Reset(nil)
	win := buf.win[:0]
	st.regions, st.matched, st.pending = buf.regions[:0], buf.matched[:0], buf.pending[:0]
	defer func() {
		buf.regions, buf.matched, buf.pending = st.regions, st.matched, st.pending
	}()
	carry := 0 // bytes of the previous window carried into this one
	// pre is the buffered block the anchors were looked for in at once:
	// a line of it with no anchor needs no further look.
	var pre prefilter
	pos := int64(0) // stream offset of the next line
	for {
		if carry == 0 && pre.end-pos < 4<<10 && !pre.eof {
			block, perr := br.Peek(br.Size())
			st.prefilter(&pre, block, pos)
			pre.eof = perr != nil && len(block) < br.Size()
			if check != nil {
				if cerr := check(); cerr != nil {
					st.finishPEM()
					return st.res, cerr
				}
			}
		}
		chunk, err := br.ReadSlice('\n')
		full := errors.Is(err, bufio.ErrBufferFull)
		if len(chunk) > 0 {
			ls := pos
			pos += int64(len(chunk))
			st.res.Bytes += int64(len(chunk))
			if carry == 0 && !full && st.pem == nil && !s.everyLine && (st.awsLine == 0 || st.line+1-st.awsLine > 2) &&
				pos <= pre.end && (chunk[len(chunk)-1] == '\n' || pre.eof) && !pre.hit(ls, pos) {
				// No anchor in this line: count it, follow the notebook.
				st.line++
				if st.nb {
					st.notebookLine(chunk)
				}
				continue
			}
			if carry == 0 {
				st.line++
				win = append(win[:0], chunk...)
				if st.nb {
					st.notebookLine(win)
				}
			} else {
				win = append(win[:carry], chunk...)
			}
			owned := len(win)
			if full {
				owned = len(win) - secretOverlap
			}
			st.window(win, owned, carry > 0)
			if full {
				copy(win, win[owned:])
				carry = secretOverlap
				if check != nil {
					if cerr := check(); cerr != nil {
						st.finishPEM()
						return st.res, cerr
					}
				}
			} else {
				carry = 0
			}
		}
		if err != nil && !full {
			st.finishPEM()
			clear(win[:cap(win)]) // no secret stays in a pooled buffer
			if errors.Is(err, io.EOF) {
				return st.res, nil
			}
			return st.res, err
		}
	}
}

// prefilter holds where, in a buffered block, some rule's anchor starts
// (stream offsets, sorted).
type prefilter struct {
	end  int64 // stream offset just past the block
	eof  bool  // the block reaches the end of the input
	hits []int64
	next int
}

// hit says whether an anchor starts in [from, to).
func (p *prefilter) hit(from, to int64) bool {
	for p.next < len(p.hits) && p.hits[p.next] < from {
		p.next++
	}
	return p.next < len(p.hits) && p.hits[p.next] < to
}

// prefilter finds every rule's anchors in one block: one pass per anchor
// over 64 KiB instead of one per line.
func (st *scanState) prefilter(p *prefilter, block []byte, at int64) {
	p.end, p.hits, p.next = at+int64(len(block)), p.hits[:0], 0
	last := -1
	findAnchors(block, func(_, i, _ int) {
		if i != last {
			p.hits = append(p.hits, at+int64(i))
			last = i
		}
	})
}

// anchorRef is one anchor of one rule.
type anchorRef struct {
	rule int
	a    []byte
}

// The anchors are indexed by their first two bytes, lowered: one pass
// over a text looks up each byte pair in a bit set (8 KiB) and compares
// the few anchors that start with it, instead of one search per anchor.
var (
	anchorPairs [1 << 16 / 64]uint64
	anchorIndex = map[uint16][]anchorRef{}
	lowerTab    [256]byte
)

func init() {
	for c := range lowerTab {
		lowerTab[c] = byte(c)
		if c >= 'A' && c <= 'Z' {
			lowerTab[c] = byte(c) + 32
		}
	}
	for ri, r := range secretRules {
		if r.re == nil {
			continue
		}
		for _, a := range r.anchors {
			k := uint16(lowerTab[a[0]])<<8 | uint16(lowerTab[a[1]])
			anchorPairs[k/64] |= 1 << (k % 64)
			anchorIndex[k] = append(anchorIndex[k], anchorRef{ri, a})
		}
	}
}

// findAnchors calls fn(rule, offset, anchor length) for every anchor in b,
// in order of offset; case-folding rules' anchors match in any case, and
// a name that must be assigned only where = or : follows.
func findAnchors(b []byte, fn func(rule, i, n int)) {
	for i := 0; i+1 < len(b); i++ {
		k := uint16(lowerTab[b[i]])<<8 | uint16(lowerTab[b[i+1]])
		if anchorPairs[k/64]&(1<<(k%64)) == 0 {
			continue
		}
		for _, ref := range anchorIndex[k] {
			r := secretRules[ref.rule]
			n := len(ref.a)
			if i+n > len(b) {
				continue
			}
			if r.fold {
				if !equalFoldASCII(b[i:i+n], ref.a) {
					continue
				}
			} else if !bytes.Equal(b[i:i+n], ref.a) {
				continue
			}
			if r.assign && i+n < len(b) && !assigned(b, i+n) {
				continue
			}
			fn(ref.rule, i, n)
		}
	}
}

// equalFoldASCII compares b with a lower-case anchor.
func equalFoldASCII(b, lower []byte) bool {
	for i, c := range lower {
		if lowerTab[b[i]] != c {
			return false
		}
	}
	return true
}

// scanBuffer is one file scan's memory, reused from file to file (a
// collection reads thousands of small files).
type scanBuffer struct {
	br      *bufio.Reader
	win     []byte
	regions [][2]int
	matched [][2]int
	pending []placed
}

var scanBuffers = sync.Pool{New: func() any {
	return &scanBuffer{br: bufio.NewReaderSize(nil, secretWindow), win: make([]byte, 0, secretWindow+secretOverlap)}
}}

// notebookLine follows nbformat's JSON: each cell's keys are written
// sorted, so "cell_type" opens a cell, and the keys at its indent say
// which part of the cell the following lines are in.
func (st *scanState) notebookLine(line []byte) {
	t := bytes.TrimLeft(line, " \t")
	indent := len(line) - len(t)
	if bytes.HasPrefix(t, []byte(`"cell_type":`)) {
		st.cell++
		st.cellIndent = indent
		st.part = ""
		return
	}
	if indent != st.cellIndent || st.cell < 0 {
		return
	}
	for _, p := range []string{"source", "outputs", "metadata", "attachments"} {
		if bytes.HasPrefix(t, []byte(`"`+p+`":`)) {
			st.part = p
			return
		}
	}
}

// window runs the rules over one window of a line, reporting matches
// that start in its first owned bytes (the rest is carried into the
// next window, which reports them).
func (st *scanState) window(w []byte, owned int, continued bool) {
	if st.pem != nil {
		from := 0
		if continued {
			// Owned parts of a line's windows tile it: feed each once.
			from = min(st.pemSkip, owned)
			st.pemSkip = 0
		}
		if from < owned {
			st.pem.feed(w[from:owned])
		}
		if st.pem.done {
			st.finishPEM()
		}
	}
	st.matched = st.matched[:0]
	// One pass finds every rule's anchors; the rules then run in their
	// order (the specific before the generic), each only around its own.
	for i := range st.hits {
		st.hits[i] = st.hits[i][:0]
	}
	findAnchors(w, func(ri, i, n int) {
		st.hits[ri] = append(st.hits[ri], [2]int{i, n})
	})
	for ri, r := range secretRules {
		// The expression runs only on the text around each anchor: on a
		// long line (a notebook's base-64 image, minified JSON) running
		// it over the whole window costs ten times more.
		st.regions = st.regions[:0]
		for _, h := range st.hits[ri] {
			i, n := h[0], h[1]
			if r.anchored {
				st.anchoredAt(r, w, i, owned)
				continue
			}
			st.regions = append(st.regions, [2]int{max(0, i-r.before()), min(len(w), i+n+r.after)})
		}
		if len(st.regions) == 0 {
			continue
		}
		for _, m := range st.matchRegions(r, w) {
			st.match(r, w, m, owned)
		}
	}
	// A bare secret key just after (or beside) an access key ID.
	if st.awsLine > 0 && st.line-st.awsLine <= 2 {
		for _, m := range awsNearSecret.FindAllSubmatchIndex(w, -1) {
			a, b := m[2], m[3]
			if a >= owned || st.overlaps(a, b) || !mixedCase(w[a:b], nil) || entropy(w[a:b]) < 4 {
				continue
			}
			st.add(secretRuleByID(RuleAWSSecret), w[a:b], a, b)
		}
	}
	// Report a window's findings in the order they appear in it.
	sort.SliceStable(st.pending, func(i, j int) bool { return st.pending[i].at < st.pending[j].at })
	for _, f := range st.pending {
		st.push(f.Secret)
	}
	st.pending = st.pending[:0]
}

// anchoredAt runs an anchored rule once, at one anchor.
func (st *scanState) anchoredAt(r *SecretRule, w []byte, i, owned int) {
	m := r.re.FindSubmatchIndex(w[i:min(len(w), i+r.after)])
	if m == nil {
		return
	}
	for k := range m {
		if m[k] >= 0 {
			m[k] += i
		}
	}
	st.match(r, w, m, owned)
}

// match checks and records one match of r in w.
func (st *scanState) match(r *SecretRule, w []byte, m []int, owned int) {
	a, b := m[2*r.group], m[2*r.group+1]
	if a < 0 || m[0] >= owned {
		return
	}
	if r.ID == RulePEM {
		st.startPEM(w, m, owned)
		return
	}
	if st.overlaps(a, b) {
		return // already reported by a more specific rule
	}
	lc := &lineContext{class: st.class}
	switch r.ID {
	case RuleGenericAssign:
		// The setting's whole name, back from the keyword.
		from := m[2]
		for from > 0 && m[2]-from < 64 && isNameByte(w[from-1]) {
			from--
		}
		lc.key = string(w[from:m[3]])
		lc.quoted = m[5] > m[4]
	case RuleNetrc:
		if bytes.Contains(w, []byte("machine ")) {
			lc.key = "machine"
		}
	}
	if r.check != nil && !r.check(w[a:b], lc) {
		return
	}
	st.add(r, w[a:b], a, b)
	if r.ID == RuleAWSKeyID {
		st.awsLine = st.line
	}
}

func isNameByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-'
}

// matchRegions runs r over the merged regions around its anchors and
// returns the matches with offsets in w.
func (st *scanState) matchRegions(r *SecretRule, w []byte) [][]int {
	sort.Slice(st.regions, func(i, j int) bool { return st.regions[i][0] < st.regions[j][0] })
	var out [][]int
	cur := st.regions[0]
	flush := func(reg [2]int) {
		for _, m := range r.re.FindAllSubmatchIndex(w[reg[0]:reg[1]], -1) {
			for k := range m {
				if m[k] >= 0 {
					m[k] += reg[0]
				}
			}
			out = append(out, m)
		}
	}
	for _, reg := range st.regions[1:] {
		if reg[0] <= cur[1] {
			cur[1] = max(cur[1], reg[1])
			continue
		}
		flush(cur)
		cur = reg
	}
	flush(cur)
	return out
}

func (st *scanState) overlaps(a, b int) bool {
	for _, s := range st.matched {
		if a < s[1] && s[0] < b {
			return true
		}
	}
	return false
}

func (st *scanState) finding(r *SecretRule, secret []byte) Secret {
	f := Secret{Rule: r.ID, Severity: r.Severity, Line: st.line, Fingerprint: st.s.fingerprint(secret)}
	for _, p := range r.prefixes {
		if bytes.HasPrefix(secret, []byte(p)) && len(p) > len(f.Hint) {
			f.Hint = p
		}
	}
	if f.Hint != "" {
		f.Hint += "…"
	}
	if st.nb && st.cell >= 0 {
		c := st.cell
		f.Cell, f.Part = &c, st.part
	}
	return f
}

func (st *scanState) add(r *SecretRule, secret []byte, a, b int) {
	st.matched = append(st.matched, [2]int{a, b})
	st.pending = append(st.pending, placed{st.finding(r, secret), a})
}

// placed is a finding and where it starts in its window.
type placed struct {
	Secret
	at int
}

func (st *scanState) push(f Secret) {
	st.res.Total++
	if len(st.res.Secrets) < maxSecretsPerFile {
		st.res.Secrets = append(st.res.Secrets, f)
	}
}

// startPEM begins gathering a PEM body after its BEGIN line; the finding
// is made once enough of the body is seen (a BEGIN line with no body is
// code or prose that mentions the marker).
func (st *scanState) startPEM(w []byte, m []int, owned int) {
	st.finishPEM()
	label := string(w[m[2]:m[3]])
	st.matched = append(st.matched, [2]int{m[0], m[1]})
	p := &pemBody{finding: Secret{Line: st.line}, encrypted: label == "ENCRYPTED PRIVATE KEY"}
	if st.nb && st.cell >= 0 {
		c := st.cell
		p.finding.Cell, p.finding.Part = &c, st.part
	}
	st.pem = p
	end := m[1]
	if end < owned {
		p.feed(w[end:owned])
	} else {
		st.pemSkip = end - owned
	}
	if p.done {
		st.finishPEM()
	}
}

func (st *scanState) finishPEM() {
	p := st.pem
	if p == nil {
		return
	}
	st.pem = nil
	if len(p.seg) > 0 && !p.done {
		p.endSegment()
	}
	if len(p.body) < pemMinBody {
		return
	}
	r := secretRuleByID(RulePEM)
	if p.encrypted {
		r = secretRuleByID(RulePEMEncrypted)
	}
	f := p.finding
	f.Rule, f.Severity, f.Fingerprint = r.ID, r.Severity, st.s.fingerprint(p.body)
	clear(p.body)
	st.push(f)
}

// fingerprintKeyFile holds the host's HMAC key in the plugin's state
// folder (mode 0600, like the folder).
const fingerprintKeyFile = "secret-fingerprint.key"

// loadFingerprintKey reads the host's fingerprint key, making it on
// first use. Without a state folder the key lives for this process only,
// and scope says so.
func loadFingerprintKey(dir string) (key []byte, scope string, err error) {
	fresh := func() []byte {
		k := make([]byte, 32)
		rand.Read(k)
		return k
	}
	if dir == "" {
		return fresh(), "process", nil
	}
	path := filepath.Join(dir, fingerprintKeyFile)
	b, err := os.ReadFile(path)
	if err == nil && len(b) == 32 {
		return b, "host", nil
	}
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fresh(), "process", fmt.Errorf("read fingerprint key: %w", err)
	}
	if err == nil {
		// Damaged: a new key changes every fingerprint once, which is
		// better than fingerprints no one can reproduce.
		err = fmt.Errorf("%s has %d bytes, not 32: made a new key", path, len(b))
	} else {
		err = nil // first use
	}
	k := fresh()
	if werr := sdk.WriteFileAtomic(path, k); werr != nil {
		return k, "process", fmt.Errorf("save fingerprint key: %w", werr)
	}
	return k, "host", err
}

// scanSecretsFile opens one file (no symlink followed) and scans it, after
// a content sniff: a NUL in the first 8 KiB marks a binary file, which is
// skipped, as grep and git do.
func (s *secretScanner) scanFile(ctx context.Context, path string, limit int64) (res fileScan, binary bool, err error) {
	f, err := sdk.OpenNoFollow(path)
	if err != nil {
		return res, false, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return res, false, err
	}
	if !fi.Mode().IsRegular() {
		return res, false, fmt.Errorf("not a regular file (%s)", fi.Mode().Type())
	}
	br := bufio.NewReaderSize(f, 8<<10)
	head, _ := br.Peek(8 << 10)
	if bytes.IndexByte(head, 0) >= 0 {
		return res, true, nil
	}
	res, err = s.scan(br, path, limit, ctx.Err)
	return res, false, err
}
