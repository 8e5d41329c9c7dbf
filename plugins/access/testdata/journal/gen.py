#!/usr/bin/python3
"""Writes auth.journal.gz in this folder: journal entries in the journal
export format (https://systemd.io/JOURNAL_EXPORT_FORMATS/) piped through
Debian's systemd-journal-remote (package systemd-journal-remote), which
writes a real journal file. The entries are what sshd, sudo and su log
through syslog(3) on a Debian host; one MESSAGE is binary (not UTF-8),
which journalctl -o json prints as an array of bytes. The journal file is
8 MiB, mostly preallocated zeros, so it is committed gzipped; the tests
unpack it into a temporary folder."""
import gzip
import os
import struct
import subprocess
import sys
import tempfile

here = os.path.dirname(os.path.abspath(__file__))
boot = "7b3c1f0e2a9d4e55b6a8c0d1e2f30415"
machine = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
start = 1740992401_000000  # 2025-03-03T09:00:01Z in microseconds

entries = [
    ("sshd", 1001, 4, 6, "Invalid user admin from 203.0.113.7 port 40001"),
    ("sshd", 1001, 4, 6, "Failed password for invalid user admin from 203.0.113.7 port 40001 ssh2"),
    ("sshd", 1002, 4, 6, "Failed password for root from 203.0.113.7 port 40002 ssh2"),
    ("sshd", 1002, 4, 6, "Failed password for root from 203.0.113.7 port 40002 ssh2"),
    ("sshd", 1002, 4, 6, "Failed password for root from 203.0.113.7 port 40002 ssh2"),
    ("sshd", 1003, 4, 6, "Failed password for alice from 203.0.113.7 port 40003 ssh2"),
    ("sshd", 1003, 4, 6, "Accepted password for alice from 203.0.113.7 port 40003 ssh2"),
    ("sshd", 1003, 10, 6, "pam_unix(sshd:session): session opened for user alice(uid=1001) by (uid=0)"),
    ("sudo", 1100, 10, 5, "   alice : TTY=pts/0 ; PWD=/srv/ml/datasets/iris ; USER=root ; COMMAND=/usr/bin/cp train.csv /tmp"),
    ("sudo", 1101, 10, 2, "     bob : 3 incorrect password attempts ; TTY=pts/1 ; PWD=/home/bob ; USER=root ; COMMAND=/bin/sh"),
    ("su", 1200, 10, 5, "(to root) alice on pts/0"),
    ("sshd", 1300, 4, 6, "Received disconnect from 198.51.100.4 port 50000:11: disconnected by user"),
    ("sshd", 1301, 4, 6, b"Failed password for \xff\xfe from 198.51.100.9 port 50001 ssh2"),
    ("sshd", 1003, 10, 6, "pam_unix(sshd:session): session closed for user alice"),
]


def field(name, value):
    if isinstance(value, bytes):
        return name.encode() + b"\n" + struct.pack("<Q", len(value)) + value + b"\n"
    return f"{name}={value}\n".encode()


out = bytearray()
for i, (ident, pid, facility, priority, message) in enumerate(entries):
    ts = start + i * 2_000_000
    out += field("__CURSOR", f"s=0;i={i + 1}")
    out += field("__REALTIME_TIMESTAMP", ts)
    out += field("__MONOTONIC_TIMESTAMP", 1_000_000 + i * 2_000_000)
    out += field("_BOOT_ID", boot)
    out += field("_MACHINE_ID", machine)
    out += field("_HOSTNAME", "gpu01")
    out += field("_TRANSPORT", "syslog")
    out += field("PRIORITY", priority)
    out += field("SYSLOG_FACILITY", facility)
    out += field("SYSLOG_IDENTIFIER", ident)
    out += field("SYSLOG_PID", pid)
    out += field("_PID", pid)
    out += field("_COMM", ident)
    out += field("MESSAGE", message)
    out += b"\n"
# One entry of another facility (daemon): not auth, filtered out by the
# plugin's default matches.
out += field("__REALTIME_TIMESTAMP", start + 60_000_000) + field("__MONOTONIC_TIMESTAMP", 61_000_000)
out += field("_BOOT_ID", boot) + field("_MACHINE_ID", machine) + field("_HOSTNAME", "gpu01")
out += field("SYSLOG_FACILITY", 3) + field("SYSLOG_IDENTIFIER", "systemd") + field("MESSAGE", "Started Daily apt download activities.") + b"\n"

target = os.path.join(here, "auth.journal.gz")
with tempfile.TemporaryDirectory() as tmp:
    tmpout = os.path.join(tmp, "auth.journal")
    subprocess.run(["/lib/systemd/systemd-journal-remote", "--output=" + tmpout, "--split-mode=none", "--compress=no", "--seal=no", "-"],
                   input=bytes(out), check=True)
    with open(tmpout, "rb") as src, gzip.GzipFile(target, "wb", compresslevel=9, mtime=0) as dst:
        dst.write(src.read())
    # What journalctl -o json prints for it: the fuzz seeds, and the
    # parser's test where journalctl is not installed.
    printed = subprocess.run(["journalctl", "--file=" + tmpout, "--output=json", "--no-pager"], check=True, capture_output=True).stdout
    with open(os.path.join(here, "auth.jsonl"), "wb") as f:
        f.write(printed)
os.chmod(target, 0o644)
print("wrote", target, os.path.getsize(target), "bytes", file=sys.stderr)
