package sdk

import (
	"os/user"
	"strconv"
	"sync"
)

// StatInfo is what StatOf reads; OK is false where the platform gave none.
type StatInfo struct {
	Dev, Ino uint64
	UID, GID uint32
	CtimeNs  int64
	// Mode carries the setuid, setgid and sticky bits as stat reports them.
	Mode uint32
	OK   bool
}

// Owners resolves and remembers user and group names: a name-service
// lookup per file per scan would be slow on LDAP-backed hosts.
type Owners struct {
	mu     sync.Mutex
	users  map[uint32]string
	groups map[uint32]string
}

// NewOwners returns an empty cache, safe for concurrent use.
func NewOwners() *Owners {
	return &Owners{users: map[uint32]string{}, groups: map[uint32]string{}}
}

// Of returns the owner and group names, or their numbers when the name
// service does not know them, or "" when stat gave none.
func (o *Owners) Of(st StatInfo) (owner, group string) {
	if !st.OK {
		return "", ""
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	owner, ok := o.users[st.UID]
	if !ok {
		id := strconv.FormatUint(uint64(st.UID), 10)
		owner = id
		if u, err := user.LookupId(id); err == nil {
			owner = u.Username
		}
		o.users[st.UID] = owner
	}
	group, ok = o.groups[st.GID]
	if !ok {
		id := strconv.FormatUint(uint64(st.GID), 10)
		group = id
		if g, err := user.LookupGroupId(id); err == nil {
			group = g.Name
		}
		o.groups[st.GID] = group
	}
	return owner, group
}
