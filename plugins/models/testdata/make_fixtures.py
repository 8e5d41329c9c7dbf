#!/usr/bin/python3
"""Write the small model fixtures the tests read, with the real writers.

Run with Debian's interpreter (python3-torch, python3-numpy):
    /usr/bin/python3 plugins/models/testdata/make_fixtures.py
The outputs are committed so that tests never need Python. safetensors and
GGUF files are written by hand from their specifications, because the
safetensors and gguf Python packages are not in Debian.
"""
import json
import os
import struct
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "fixtures")


def out(name):
    os.makedirs(OUT, exist_ok=True)
    return os.path.join(OUT, name)


def safetensors(path, tensors, metadata=None):
    """tensors: list of (name, dtype, shape, raw bytes); per the spec:
    u64 little-endian header length, JSON header, then the data."""
    header, data = {}, b""
    if metadata:
        header["__metadata__"] = metadata
    for name, dtype, shape, raw in tensors:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)  # the reference writer pads to 8
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + data)


def gguf_str(s):
    b = s.encode()
    return struct.pack("<Q", len(b)) + b


def gguf(path):
    """GGUF v3: magic, version, tensor count, kv count, KVs, tensor infos,
    alignment padding, tensor data."""
    kvs = [
        ("general.architecture", 8, gguf_str("llama")),
        ("general.name", 8, gguf_str("tiny-test")),
        ("general.license", 8, gguf_str("apache-2.0")),
        ("general.file_type", 4, struct.pack("<I", 1)),
        ("llama.context_length", 4, struct.pack("<I", 2048)),
        ("tokenizer.chat_template", 8, gguf_str("{% for m in messages %}{{ m.content }}{% endfor %}")),
        ("tokenizer.ggml.tokens", 9, struct.pack("<IQ", 8, 3) + gguf_str("a") + gguf_str("b") + gguf_str("c")),
    ]
    tensors = [("tok_embd.weight", [4, 3], 1), ("output_norm.weight", [4], 0)]
    b = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(kvs))
    for k, t, v in kvs:
        b += gguf_str(k) + struct.pack("<I", t) + v
    off, data = 0, b""
    for name, dims, typ in tensors:
        n = 1
        for d in dims:
            n *= d
        size = n * (2 if typ == 1 else 4)
        b += gguf_str(name) + struct.pack("<I", len(dims)) + b"".join(struct.pack("<Q", d) for d in dims)
        b += struct.pack("<IQ", typ, off)
        chunk = b"\0" * size
        chunk += b"\0" * (-len(chunk) % 32)
        data += chunk
        off += len(chunk)
    b += b"\0" * (-len(b) % 32)
    with open(path, "wb") as f:
        f.write(b + data)


class Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def main():
    torch.manual_seed(0)
    sd = {"linear.weight": torch.arange(4, dtype=torch.float32).reshape(2, 2), "linear.bias": torch.zeros(2)}
    torch.save(sd, out("state_dict.pt"))
    torch.save(sd, out("legacy.pt"), _use_new_zipfile_serialization=False)
    # A PyTorch zip whose data.pkl also calls os.system: what a poisoned
    # checkpoint looks like.
    torch.save({"weights": sd, "x": Evil()}, out("evil.pt"))
    np.save(out("floats.npy"), np.arange(6, dtype=np.float32).reshape(2, 3))
    np.save(out("objects.npy"), np.array([{"a": 1}, "text", None], dtype=object), allow_pickle=True)
    np.savez(out("arrays.npz"), a=np.ones(3), b=np.zeros((2, 2), dtype=np.int64))
    import pickle
    with open(out("evil.pkl"), "wb") as f:
        pickle.dump(Evil(), f, protocol=2)
    with open(out("plain.pkl"), "wb") as f:
        pickle.dump({"lr": 0.1, "layers": [1, 2, 3]}, f, protocol=4)
    safetensors(out("tiny.safetensors"),
                [("a", "F32", [2, 2], np.arange(4, dtype="<f4").tobytes()),
                 ("b", "BF16", [3], b"\0" * 6)],
                metadata={"format": "pt", "license": "mit"})
    # Two tensors claiming the same bytes, and a length past the end.
    safetensors(out("overlap.safetensors.bin"),
                [("a", "F32", [2], b"\0" * 8)])
    with open(out("overlap.safetensors.bin"), "r+b") as f:
        raw = f.read()
        n = struct.unpack("<Q", raw[:8])[0]
        hdr = {"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
               "b": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}
        h = json.dumps(hdr).encode()
        h += b" " * (-len(h) % 8)
        f.seek(0)
        f.truncate()
        f.write(struct.pack("<Q", len(h)) + h + b"\0" * 8)
    gguf(out("tiny.gguf"))
    for name in sorted(os.listdir(OUT)):
        size = os.path.getsize(os.path.join(OUT, name))
        assert size < 50 * 1024, (name, size)
        print(f"{size:8d} {name}")


if __name__ == "__main__":
    sys.exit(main())
