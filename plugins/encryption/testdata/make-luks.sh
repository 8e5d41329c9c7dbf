#!/usr/bin/env bash
# Regenerates the LUKS header fixtures with the real cryptsetup (Debian
# package cryptsetup-bin). Each image is formatted at full size, then cut
# to the bytes the plugin reads: LUKS1 keeps its 4 KiB first sector (the
# phdr is 592 bytes), LUKS2 keeps the primary header (binary header + JSON
# area, 16 KiB with --luks2-metadata-size=16k; one fixture keeps the
# secondary header too). The key-slot areas, where
# the encrypted volume keys live, are cut away; the passphrase is a test
# constant anyway. Formatting a regular file needs no root and no loop device.
#
#   cd plugins/encryption/testdata && ./make-luks.sh
set -euo pipefail
cd "$(dirname "$0")"
command -v cryptsetup >/dev/null || { echo "install cryptsetup-bin" >&2; exit 1; }
pass=$(mktemp)
trap 'rm -f "$pass" ./*.tmp' EXIT
printf 'annexa-test-passphrase' >"$pass"
# Fixed UUIDs and cheap KDFs so reruns differ only in salts.
fast=(--batch-mode --key-file "$pass" --pbkdf-force-iterations 1000 --pbkdf pbkdf2)

# LUKS1, AES-256-XTS (512-bit key), sha256, one key slot.
truncate -s 4M luks1.tmp
cryptsetup luksFormat --type luks1 "${fast[@]}" --cipher aes-xts-plain64 --key-size 512 \
  --hash sha256 --uuid 6f0bd8b4-2a3c-4b52-9a31-5b0b5c1e2d11 luks1.tmp
head -c 4096 luks1.tmp >luks1-aes-xts.hdr

# LUKS1, AES-128-CBC-ESSIV, sha1, two key slots (an old installer's default).
truncate -s 4M luks1b.tmp
cryptsetup luksFormat --type luks1 "${fast[@]}" --cipher aes-cbc-essiv:sha256 --key-size 128 \
  --hash sha1 --uuid 0c0ffee0-1111-4222-8333-944445555666 luks1b.tmp
cryptsetup luksAddKey --batch-mode --key-file "$pass" --pbkdf-force-iterations 1000 luks1b.tmp "$pass"
head -c 4096 luks1b.tmp >luks1-aes-cbc-2slots.hdr

# LUKS2, AES-256-XTS, argon2id slot, 4096-byte sectors, a label.
truncate -s 16M luks2.tmp
cryptsetup luksFormat --type luks2 --batch-mode --key-file "$pass" --pbkdf argon2id \
  --pbkdf-force-iterations 4 --pbkdf-memory 32 --pbkdf-parallel 1 \
  --cipher aes-xts-plain64 --key-size 512 --sector-size 4096 --label datasets \
  --luks2-metadata-size 16k --luks2-keyslots-size 1M \
  --uuid 3b6a2c1d-0f4e-4d2a-8c7b-1a2b3c4d5e6f luks2.tmp
head -c 16384 luks2.tmp >luks2-aes-xts.hdr
# The same with its secondary header (the next 16 KiB), to test the
# fallback when the primary is damaged.
head -c 32768 luks2.tmp >luks2-aes-xts-both.hdr

# LUKS2, AES-128-XTS, sha512 digest, two pbkdf2 slots and a token. (Ciphers the
# kernel crypto API lacks here, e.g. serpent, make cryptsetup fall back to
# device-mapper, which a container does not have.)
truncate -s 16M luks2b.tmp
cryptsetup luksFormat --type luks2 "${fast[@]}" --cipher aes-xts-plain64 --key-size 256 --sector-size 512 \
  --hash sha512 --luks2-metadata-size 16k --luks2-keyslots-size 1M \
  --uuid 9a8b7c6d-5e4f-4321-8765-fedcba987654 luks2b.tmp
cryptsetup luksAddKey --batch-mode --key-file "$pass" --pbkdf pbkdf2 --pbkdf-force-iterations 1000 luks2b.tmp "$pass"
printf '{"type":"annexa-test","keyslots":["0"]}' | cryptsetup token import --json-file - luks2b.tmp
head -c 16384 luks2b.tmp >luks2-aes128-2slots-token.hdr

ls -l ./*.hdr
