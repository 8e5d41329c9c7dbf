#!/bin/sh
# Regenerates audit.log in this folder with the real kernel audit
# subsystem and Debian's auditd (package auditd; sudo and login for the
# user-space records). Run as root on a Linux host (or VM) whose kernel
# has audit; it needs no changes to the host: the asset tree, the users
# and sudoers exist only in a private mount namespace, and the audit
# rules it adds are deleted and auditing restored to its previous state
# at the end. The log's events:
#   alice (auid/uid 1001) reads a dataset file by absolute and by
#   relative path, copies a file whose name has a space (hex-encoded
#   PATH name), renames a file in a dataset, runs a command with an
#   argument holding a space (hex-encoded EXECVE argument), appends to a
#   model file; bob (uid 1002, logged in as alice) is refused a
#   dataset file; sudo as alice's login; su to bob with a wrong password,
#   then the right one; login as alice, wrong password then right.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
if [ -z "${ANNEXA_GEN_NS:-}" ]; then
	export ANNEXA_GEN_NS=1
	exec unshare -m --propagation private "$0" "$@"
fi
work=$(mktemp -d)
was_enabled=$(auditctl -s | awk '$1=="enabled"{print $2}')

# The asset tree, seen at /srv/ml in this namespace only.
mkdir -p "$work/srv/ml/datasets/iris" "$work/srv/ml/datasets/pii" "$work/srv/ml/datasets/my data" "$work/srv/ml/models" /srv
echo '{"description":"iris","license":"cc0-1.0"}' >"$work/srv/ml/datasets/iris/dataset_info.json"
printf 'sepal_length,species\n5.1,setosa\n' >"$work/srv/ml/datasets/iris/train.csv"
printf 'id,name\n1,Ann\n' >"$work/srv/ml/datasets/pii/customers.csv"
chmod 0600 "$work/srv/ml/datasets/pii/customers.csv"
printf 'a,b\n' >"$work/srv/ml/datasets/my data/notes.csv"
chmod 0644 "$work/srv/ml/datasets/my data/notes.csv"
printf 'not a real model\n' >"$work/srv/ml/models/llama.safetensors"
chown 1001 "$work/srv/ml/models/llama.safetensors" "$work/srv/ml/datasets/iris"
chmod 0755 "$work" "$work/srv" "$work/srv/ml" "$work/srv/ml/datasets" "$work/srv/ml/models"
mount --bind "$work/srv" /srv

# alice and bob, password "correct-horse", in this namespace only.
hash=$(python3 -c 'import crypt; print(crypt.crypt("correct-horse", crypt.mksalt(crypt.METHOD_SHA512)))' 2>/dev/null)
# A private copy of /etc: files replaced meanwhile by other programs on
# the host (useradd renames over /etc/passwd) cannot undo it.
cp -a /etc "$work/etc"
printf 'alice:x:1001:1001::/tmp:/bin/sh\nbob:x:1002:1002::/tmp:/bin/sh\n' >>"$work/etc/passwd"
printf 'alice:%s:20000:0:99999:7:::\nbob:%s:20000:0:99999:7:::\n' "$hash" "$hash" >>"$work/etc/shadow"
printf 'alice:x:1001:\nbob:x:1002:\n' >>"$work/etc/group"
mount --bind "$work/etc" /etc

# auditd writing to the work folder, enriched format (Debian's default).
mkdir -p "$work/auditd"
cat >"$work/auditd/auditd.conf" <<CONF
local_events = yes
write_logs = yes
log_file = $work/audit.log
log_format = ENRICHED
flush = SYNC
max_log_file = 8
max_log_file_action = ignore
space_left = 2
space_left_action = ignore
admin_space_left = 1
admin_space_left_action = ignore
disk_full_action = ignore
disk_error_action = ignore
CONF
auditd -c "$work/auditd"
for _ in 1 2 3 4 5 6 7 8 9 10; do [ -s "$work/audit.log" ] && break; sleep 0.3; done
auditctl -D >/dev/null
auditctl -w /srv/ml/datasets -p rwa -k annexa-datasets
auditctl -w /srv/ml/models -p rwa -k annexa-models
auditctl -a always,exit -F arch=b64 -S execve -F auid=1001 -F exe=/usr/bin/ls -k annexa-exec

as_alice() { sh -c 'echo 1001 >/proc/self/loginuid; exec "$@"' as_alice "$@"; }
as_alice setpriv --reuid=1001 --regid=1001 --clear-groups cat /srv/ml/datasets/iris/train.csv >/dev/null
as_alice setpriv --reuid=1001 --regid=1001 --clear-groups sh -c 'cd /srv/ml/datasets/iris && cat train.csv >/dev/null'
as_alice setpriv --reuid=1001 --regid=1001 --clear-groups cp "/srv/ml/datasets/my data/notes.csv" /tmp/annexa-gen-notes.csv
rm -f /tmp/annexa-gen-notes.csv
as_alice setpriv --reuid=1001 --regid=1001 --clear-groups ls -l "/srv/ml/datasets/my data" >/dev/null
as_alice mv /srv/ml/datasets/iris/train.csv /srv/ml/datasets/iris/train-v1.csv
as_alice setpriv --reuid=1001 --regid=1001 --clear-groups sh -c 'echo more >>/srv/ml/models/llama.safetensors'
as_alice setpriv --reuid=1002 --regid=1002 --clear-groups cat /srv/ml/datasets/pii/customers.csv 2>/dev/null || true
as_alice sudo -u bob true

# su and login need a terminal for the password.
python3 - <<'PY'
import os, pty, time

def drive(argv, answers, uid=None):
    pid, fd = pty.fork()
    if pid == 0:
        with open("/proc/self/loginuid", "w") as f:
            f.write("1001")
        if uid is not None:
            os.setgid(uid); os.setuid(uid)
        os.execvp(argv[0], argv)
    out = b""
    for prompt, answer in answers:
        deadline = time.time() + 10
        while prompt not in out and time.time() < deadline:
            try:
                chunk = os.read(fd, 1024)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
        os.write(fd, answer)
        out = b""
    deadline = time.time() + 10
    while time.time() < deadline:
        try:
            if not os.read(fd, 1024):
                break
        except OSError:
            break
    os.waitpid(pid, 0)

drive(["su", "bob", "-c", "true"], [(b"assword", b"wrong-horse\n")], uid=1001)
time.sleep(3.5)  # pam_faildelay
drive(["su", "bob", "-c", "true"], [(b"assword", b"correct-horse\n")], uid=1001)
drive(["login", "alice"], [(b"assword", b"wrong-horse\n"), (b"login:", b"alice\n"), (b"assword", b"correct-horse\n"), (b"$", b"exit\n")])
PY

auditctl -D >/dev/null
kill "$(cat /run/auditd.pid)"
for _ in 1 2 3 4 5 6 7 8 9 10; do [ -e /run/auditd.pid ] || break; sleep 0.3; done
auditctl -e "$was_enabled" >/dev/null
cp "$work/audit.log" "$here/audit.log"
chmod 0644 "$here/audit.log"
rm -rf "$work"
echo "wrote $here/audit.log ($(wc -l <"$here/audit.log") lines)"
