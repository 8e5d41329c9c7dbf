#!/usr/bin/python3
"""Write the small model fixtures the tests read, with the real writers.

Run with Debian's interpreter:
    /usr/bin/python3 plugins/models/testdata/make_fixtures.py [group ...]
Groups (default: all): byhand (safetensors and GGUF, numpy only), torch
(python3-torch, python3-numpy), onnx
(python3-onnx), joblib (python3-sklearn, python3-joblib), joblib_more
(python3-sklearn, python3-joblib, python3-lz4), keras
(python3-h5py), keras_weights (python3-h5py), signing (openssl; writes testdata/signed/), signing_key,
signing_cert, signing_keyless and signing_timestamp (python3-cryptography;
write testdata/signed-key/, testdata/signed-cert/, testdata/signed-keyless/
with its broken variants in testdata/keyless-variants/, its RFC 3161 and
Rekor v2 variants in testdata/timestamp-variants/, and the trust files in
testdata/trust/). Each group imports its writer only when it runs, so one
group can be regenerated on a machine that lacks the others' packages.
The outputs are committed so that tests never need Python. safetensors and
GGUF files are written by hand from their specifications, because the
safetensors and gguf Python packages are not in Debian.
"""
import json
import os
import struct
import sys

import numpy as np

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
        ("general.datasets", 9, struct.pack("<IQ", 8, 2) + gguf_str("tatsu-lab/alpaca") + gguf_str("openai/gsm8k")),
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


def torch_fixtures():
    import torch
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


def byhand_fixtures():
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


def onnx_fixtures():
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    from onnx.external_data_helper import set_external_data

    def io(name, shape):
        return helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)

    # A plain model: two initializers (6 + 3 parameters), metadata_props.
    w = numpy_helper.from_array(np.arange(6, dtype=np.float32).reshape(2, 3), "W")
    b = numpy_helper.from_array(np.zeros(3, dtype=np.float16), "B")
    g = helper.make_graph([helper.make_node("MatMul", ["x", "W"], ["y"])], "tiny",
                          [io("x", [1, 2])], [io("y", [1, 3])], [w, b])
    m = helper.make_model(g, producer_name="annexa-fixtures", producer_version="1.0",
                          opset_imports=[helper.make_opsetid("", 13)])
    helper.set_model_props(m, {"license": "apache-2.0", "author": "annexa"})
    onnx.checker.check_model(m)
    onnx.save(m, out("tiny.onnx"))

    # Custom operators: one at the top, one hidden in an If branch, and a
    # call of a function the model defines itself (not native code).
    then_g = helper.make_graph([helper.make_node("Hidden", ["x"], ["t"], domain="com.hidden")],
                               "then", [], [io("t", [1, 2])])
    else_g = helper.make_graph([helper.make_node("Identity", ["x"], ["e"])], "else", [], [io("e", [1, 2])])
    fn = helper.make_function("local.fns", "Twice", ["a"], ["b"],
                              [helper.make_node("Add", ["a", "a"], ["b"])],
                              [helper.make_opsetid("", 13)])
    nodes = [
        helper.make_node("FastGelu", ["x"], ["g"], domain="com.example.ops"),
        helper.make_node("Twice", ["g"], ["h"], domain="local.fns"),
        helper.make_node("If", ["c"], ["y"], then_branch=then_g, else_branch=else_g),
    ]
    g = helper.make_graph(nodes, "custom", [io("x", [1, 2]), helper.make_tensor_value_info("c", TensorProto.BOOL, [])],
                          [io("y", [1, 2])])
    m = helper.make_model(g, producer_name="annexa-fixtures", functions=[fn],
                          opset_imports=[helper.make_opsetid("", 13), helper.make_opsetid("com.example.ops", 1),
                                         helper.make_opsetid("com.hidden", 1), helper.make_opsetid("local.fns", 1)])
    onnx.save(m, out("custom_op.onnx"))

    # Weights in a file beside the model, as onnx.save writes them.
    w = numpy_helper.from_array(np.ones((4, 4), dtype=np.float32), "W")
    g = helper.make_graph([helper.make_node("MatMul", ["x", "W"], ["y"])], "ext", [io("x", [1, 4])], [io("y", [1, 4])], [w])
    m = helper.make_model(g, producer_name="annexa-fixtures", opset_imports=[helper.make_opsetid("", 13)])
    onnx.save_model(m, out("external_ok.onnx"), save_as_external_data=True, all_tensors_to_one_file=True,
                    location="external_ok.onnx.data", size_threshold=0)

    # External data locations that leave the model's folder: what a path
    # traversal in a downloaded model looks like.
    t1 = numpy_helper.from_array(np.zeros(2, dtype=np.float32), "A")
    t2 = numpy_helper.from_array(np.zeros(2, dtype=np.float32), "C")
    for t, loc in ((t1, "../../../../etc/passwd"), (t2, "/root/.ssh/id_rsa")):
        set_external_data(t, location=loc, offset=0, length=8)
        t.data_location = TensorProto.EXTERNAL
        t.ClearField("raw_data")
    g = helper.make_graph([helper.make_node("Add", ["A", "C"], ["y"])], "escape", [], [io("y", [2])], [t1, t2])
    m = helper.make_model(g, producer_name="annexa-fixtures", opset_imports=[helper.make_opsetid("", 13)])
    with open(out("external_escape.onnx"), "wb") as f:
        f.write(m.SerializeToString())


def joblib_fixtures():
    import joblib
    from sklearn.linear_model import LogisticRegression

    x = np.array([[0.0, 1.0], [1.0, 0.0], [1.0, 1.0], [0.0, 0.0]])
    m = LogisticRegression().fit(x, [0, 1, 1, 0])
    joblib.dump(m, out("logreg.joblib"))
    # The same model through every compressor joblib offers (lz4 is in
    # joblib_more). Odd names: the plugin must go by content.
    for c in ("zlib", "gzip", "bz2", "xz", "lzma"):
        joblib.dump(m, out("logreg.joblib-" + c), compress=(c, 3))
    # Arrays joblib writes raw (int32, unicode) and one it pickles whole
    # (object dtype), protocol 2.
    joblib.dump({"ints": np.arange(5, dtype=np.int32), "text": np.array(["ab", "c"]),
                 "objects": np.array([1, "x"], dtype=object)}, out("arrays.joblib"), protocol=2)
    # An object array holding os.system: the nested pickle must be walked.
    joblib.dump({"w": np.ones(3), "payload": np.array([Evil(), 1], dtype=object)}, out("evil.joblib"))


def joblib_more_fixtures():
    """joblib's lz4 compressor (needs python3-lz4) and the "ZF" zlib files
    joblib wrote before 0.10, through joblib's own write_zfile, which its
    reader for such files still ships."""
    import io
    import pickle

    import joblib
    from joblib import numpy_pickle_compat
    from sklearn.linear_model import LogisticRegression

    x = np.array([[0.0, 1.0], [1.0, 0.0], [1.0, 1.0], [0.0, 0.0]])
    m = LogisticRegression().fit(x, [0, 1, 1, 0])
    joblib.dump(m, out("logreg.joblib-lz4"), compress=("lz4", 3))
    joblib.dump({"w": np.ones(3), "payload": np.array([Evil(), 1], dtype=object)},
                out("evil.joblib-lz4"), compress="lz4")
    for name, obj in (("logreg.joblib-zf", m), ("evil.joblib-zf", {"payload": Evil()})):
        b = io.BytesIO()
        numpy_pickle_compat.write_zfile(b, pickle.dumps(obj, protocol=2))
        with open(out(name), "wb") as f:
            f.write(b.getvalue())


def keras_fixtures():
    """Keras is not a Debian package: the files are laid out as Keras
    writes them (keras/src/saving/saving_lib.py for .keras, legacy
    hdf5_format.py for .h5), with h5py for the HDF5 parts and the real
    marshal/base64 encoding Keras uses for Lambda functions."""
    import base64
    import datetime
    import marshal
    import zipfile

    import h5py

    lam = base64.b64encode(marshal.dumps((lambda x: x * 2).__code__)).decode()

    def dense2(name, units):  # Keras 2 layer config
        return {"class_name": "Dense", "config": {"name": name, "trainable": True, "dtype": "float32", "units": units,
                "activation": "relu", "use_bias": True,
                "kernel_initializer": {"class_name": "GlorotUniform", "config": {"seed": None}}}}

    def h5model(path, config, libver="earliest", as_bytes=True, version="2.15.0"):
        with h5py.File(path, "w", libver=libver) as f:
            val = json.dumps(config)
            f.attrs["keras_version"] = version.encode() if as_bytes else version
            f.attrs["backend"] = b"tensorflow" if as_bytes else "tensorflow"
            f.attrs["model_config"] = val.encode() if as_bytes else val
            g = f.create_group("model_weights")
            g.attrs["layer_names"] = [b"dense"]
            d = g.create_group("dense").create_group("dense")
            d.create_dataset("kernel:0", data=np.ones((4, 2), dtype=np.float32))
            d.create_dataset("bias:0", data=np.zeros(2, dtype=np.float32))

    seq = {"class_name": "Sequential", "config": {"name": "sequential", "layers": [dense2("dense", 2)]}}
    h5model(out("dense.h5"), seq)
    lam_layer = {"class_name": "Lambda", "config": {"name": "double", "trainable": True, "dtype": "float32",
                 "function": [lam, None, None], "function_type": "lambda", "module": "__main__",
                 "output_shape": None, "output_shape_type": "raw", "output_shape_module": None, "arguments": {}}}
    h5model(out("lambda.h5"), {"class_name": "Sequential", "config": {"name": "with_lambda",
                                                                      "layers": [dense2("dense", 2), lam_layer]}})
    # The newest HDF5 layout (superblock 3, object header 2) with str
    # attributes (variable-length, in the global heap), and a layer whose
    # module is os: what the Keras safe_mode bypasses used.
    evil = {"module": "keras", "class_name": "Sequential", "config": {"name": "gadget", "layers": [
        {"module": "os", "class_name": "system", "config": {"name": "pwn", "command": "id"}, "registered_name": None}]}}
    h5model(out("latest.h5"), evil, libver="latest", as_bytes=False, version="3.3.3")
    # An HDF5 file that is data, not a model.
    with h5py.File(out("data.h5"), "w") as f:
        f.create_dataset("x", data=np.arange(10))
        f.attrs["description"] = "measurements"

    def keras3(path, layers):
        dtype = {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float32"}, "registered_name": None}
        cfg = {"module": "keras", "class_name": "Sequential", "config": {
            "name": "sequential", "trainable": True, "dtype": dtype,
            "layers": [{"module": "keras.layers", "class_name": "InputLayer",
                        "config": {"batch_shape": [None, 4], "dtype": "float32", "sparse": False, "name": "input_layer"},
                        "registered_name": None}] + layers,
            "build_input_shape": [None, 4]}, "registered_name": None, "build_config": {"input_shape": [None, 4]},
            "compile_config": None}
        weights = path + ".weights.h5"
        with h5py.File(weights, "w") as f:
            v = f.create_group("layers").create_group("dense").create_group("vars")
            v.create_dataset("0", data=np.ones((4, 2), dtype=np.float32))
            v.create_dataset("1", data=np.zeros(2, dtype=np.float32))
        with zipfile.ZipFile(path, "w") as z:
            z.writestr("metadata.json", json.dumps({"keras_version": "3.3.3", "date_saved": datetime.datetime(2026, 1, 1).strftime("%Y-%m-%d@%H:%M:%S")}))
            z.writestr("config.json", json.dumps(cfg))
            z.write(weights, "model.weights.h5")
        os.remove(weights)

    dense3 = {"module": "keras.layers", "class_name": "Dense", "config": {
        "name": "dense", "trainable": True, "units": 2, "activation": "relu",
        "kernel_initializer": {"module": "keras.initializers", "class_name": "GlorotUniform", "config": {"seed": None},
                               "registered_name": None}}, "registered_name": None, "build_config": {"input_shape": [None, 4]}}
    keras3(out("dense.keras"), [dense3])
    keras3(out("lambda.keras"), [dense3,
        {"module": "keras.layers", "class_name": "Lambda", "config": {
            "name": "double", "function": {"class_name": "__lambda__", "config": {"value": [lam, None, None]}},
            "arguments": {}, "safe_mode": False}, "registered_name": None},
        {"module": "mypkg.layers", "class_name": "Scale", "config": {"name": "scale"}, "registered_name": "MyPkg>Scale"}])


def signing_fixtures():
    """An OpenSSF model-signing signature (model.sig) over a small model
    folder, laid out as model_signing v1.0 writes it with a certificate
    signer: a Sigstore bundle (v0.3 JSON) whose DSSE envelope carries an
    in-toto statement; the certificate is self-signed by openssl (the
    model_signing package is not in Debian), its SAN an e-mail address."""
    import base64
    import hashlib
    import subprocess
    import tempfile

    folder = os.path.join(HERE, "signed")
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(HERE, "fixtures", "tiny.safetensors"), "rb") as f:
        weights = f.read()
    files = {"model.safetensors": weights,
             "config.json": b'{"architectures": ["TinyForCausalLM"], "model_type": "tiny"}\n'}
    for name, body in files.items():
        with open(os.path.join(folder, name), "wb") as f:
            f.write(body)
    resources = [{"name": n, "algorithm": "sha256", "digest": hashlib.sha256(files[n]).hexdigest()} for n in sorted(files)]
    root = hashlib.sha256(b"".join(bytes.fromhex(r["digest"]) for r in resources)).hexdigest()
    statement = {"_type": "https://in-toto.io/Statement/v1",
                 "subject": [{"name": "signed", "digest": {"sha256": root}}],
                 "predicateType": "https://model_signing/signature/v1.0",
                 "predicate": {"serialization": {"method": "files", "hash_type": "sha256", "allow_symlinks": False,
                                                 "ignore_paths": ["model.sig", ".git", ".gitattributes", ".github", ".gitignore"]},
                               "resources": resources}}
    payload = json.dumps(statement, sort_keys=True).encode()
    ptype = "application/vnd.in-toto+json"
    pae = b"DSSEv1 %d %s %d %s" % (len(ptype), ptype.encode(), len(payload), payload)
    with tempfile.TemporaryDirectory() as tmp:
        key, cert, msg, sig = (os.path.join(tmp, n) for n in ("key.pem", "cert.der", "pae", "sig"))
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                        "-keyout", key, "-outform", "DER", "-out", cert, "-days", "3650", "-subj", "/O=annexa fixtures",
                        "-addext", "subjectAltName=email:ml-release@example.org"], check=True, capture_output=True)
        with open(msg, "wb") as f:
            f.write(pae)
        subprocess.run(["openssl", "dgst", "-sha256", "-sign", key, "-out", sig, msg], check=True)
        with open(cert, "rb") as f:
            der = f.read()
        with open(sig, "rb") as f:
            signature = f.read()
    bundle = {"mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
              "verificationMaterial": {"certificate": {"rawBytes": base64.b64encode(der).decode()}},
              "dsseEnvelope": {"payload": base64.b64encode(payload).decode(), "payloadType": ptype,
                               "signatures": [{"sig": base64.b64encode(signature).decode()}]}}
    with open(os.path.join(folder, "model.sig"), "w") as f:
        json.dump(bundle, f, indent=2)


def _statement(folder_name, files):
    """The in-toto statement model_signing v1.0 signs over a folder."""
    import hashlib
    resources = [{"name": n, "algorithm": "sha256", "digest": hashlib.sha256(files[n]).hexdigest()} for n in sorted(files)]
    root = hashlib.sha256(b"".join(bytes.fromhex(r["digest"]) for r in resources)).hexdigest()
    return {"_type": "https://in-toto.io/Statement/v1",
            "subject": [{"name": folder_name, "digest": {"sha256": root}}],
            "predicateType": "https://model_signing/signature/v1.0",
            "predicate": {"serialization": {"method": "files", "hash_type": "sha256", "allow_symlinks": False,
                                            "ignore_paths": ["model.sig", ".git", ".gitattributes", ".github", ".gitignore"]},
                          "resources": resources}}


def _signed_folder(name):
    folder = os.path.join(HERE, name)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(HERE, "fixtures", "tiny.safetensors"), "rb") as f:
        weights = f.read()
    files = {"model.safetensors": weights,
             "config.json": b'{"architectures": ["TinyForCausalLM"], "model_type": "tiny"}\n'}
    for n, body in files.items():
        with open(os.path.join(folder, n), "wb") as f:
            f.write(body)
    return folder, files


def _dsse_bundle(private_key, statement, verification_material):
    """A Sigstore bundle v0.3 with a DSSE envelope, as model_signing's key
    and certificate signers write it: ECDSA (SHA-256 on P-256) over the
    DSSE pre-authentication encoding of the statement."""
    import base64
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    payload = json.dumps(statement, indent=2).encode()
    ptype = "application/vnd.in-toto+json"
    pae = b"DSSEv1 %d %s %d %s" % (len(ptype), ptype.encode(), len(payload), payload)
    sig = private_key.sign(pae, ec.ECDSA(hashes.SHA256()))
    return {"mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
            "verificationMaterial": verification_material,
            "dsseEnvelope": {"payload": base64.b64encode(payload).decode(), "payloadType": ptype,
                             "signatures": [{"sig": base64.b64encode(sig).decode(), "keyid": ""}]}}


def signing_key_fixtures():
    """model_signing's key method (python3-cryptography, the library
    model_signing itself signs with): testdata/signed-key/ is signed with a
    fresh P-256 key whose public half is testdata/trust/model-signing.pub;
    the bundle names it by the SHA-256 of its PEM (the "hint"). Another
    key, testdata/trust/other.pub, signs nothing. Private keys are not kept."""
    import hashlib
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    trust = os.path.join(HERE, "trust")
    os.makedirs(trust, exist_ok=True)
    folder, files = _signed_folder("signed-key")
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    with open(os.path.join(trust, "model-signing.pub"), "wb") as f:
        f.write(pem)
    other = ec.generate_private_key(ec.SECP256R1()).public_key()
    with open(os.path.join(trust, "other.pub"), "wb") as f:
        f.write(other.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    vm = {"publicKey": {"hint": hashlib.sha256(pem).hexdigest()}, "tlogEntries": []}
    with open(os.path.join(folder, "model.sig"), "w") as f:
        json.dump(_dsse_bundle(key, _statement("signed-key", files), vm), f, indent=2)


def signing_cert_fixtures():
    """model_signing's certificate method: testdata/signed-cert/ is signed
    by a leaf certificate (code signing, SAN ml-release@example.org) issued
    by an intermediate CA under a root CA, testdata/trust/ca.pem; the
    bundle carries the chain leaf first, as model_signing writes it."""
    import base64
    import datetime
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
    trust = os.path.join(HERE, "trust")
    os.makedirs(trust, exist_ok=True)
    folder, files = _signed_folder("signed-cert")
    now = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)

    def cert(subject, key, issuer, issuer_key, ca, eku=None, san=None):
        b = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
             .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
             .public_key(key.public_key()).serial_number(x509.random_serial_number())
             .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=3650))
             .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
             .add_extension(x509.KeyUsage(digital_signature=not ca, content_commitment=False, key_encipherment=False,
                                          data_encipherment=False, key_agreement=False, key_cert_sign=ca, crl_sign=ca,
                                          encipher_only=False, decipher_only=False), critical=True))
        if eku:
            b = b.add_extension(x509.ExtendedKeyUsage(eku), critical=False)
        if san:
            b = b.add_extension(x509.SubjectAlternativeName([x509.RFC822Name(san)]), critical=False)
        return b.sign(issuer_key, hashes.SHA256())

    root_key, inter_key, leaf_key = (ec.generate_private_key(ec.SECP256R1()) for _ in range(3))
    root = cert("Annexa fixtures root CA", root_key, "Annexa fixtures root CA", root_key, True)
    inter = cert("Annexa fixtures model-signing CA", inter_key, "Annexa fixtures root CA", root_key, True)
    leaf = cert("ml-release", leaf_key, "Annexa fixtures model-signing CA", inter_key, False,
                eku=[ExtendedKeyUsageOID.CODE_SIGNING], san="ml-release@example.org")
    with open(os.path.join(trust, "ca.pem"), "wb") as f:
        f.write(root.public_bytes(serialization.Encoding.PEM))
    der = lambda c: base64.b64encode(c.public_bytes(serialization.Encoding.DER)).decode()
    vm = {"x509CertificateChain": {"certificates": [{"rawBytes": der(leaf)}, {"rawBytes": der(inter)}]}}
    with open(os.path.join(folder, "model.sig"), "w") as f:
        json.dump(_dsse_bundle(leaf_key, _statement("signed-cert", files), vm), f, indent=2)


def keras_weights_fixtures():
    """Weight layouts for the parameter count (python3-h5py): a Keras 2 full
    model with its optimizer state beside the weights (only model_weights
    counts), a save_weights file (layer_names at the root) with one dataset
    hard-linked twice (counted once), and a libver="latest" file whose
    root has more members than fit in its header, so its links live in
    dense storage (not read: no count)."""
    import h5py
    with h5py.File(out("optimizer.h5"), "w") as f:
        f.attrs["keras_version"] = b"2.15.0"
        f.attrs["backend"] = b"tensorflow"
        f.attrs["model_config"] = json.dumps({"class_name": "Sequential", "config": {"name": "s", "layers": []}}).encode()
        d = f.create_group("model_weights").create_group("dense").create_group("dense")
        d.create_dataset("kernel:0", data=np.ones((4, 3), dtype=np.float32))
        d.create_dataset("bias:0", data=np.zeros(3, dtype=np.float32))
        o = f.create_group("optimizer_weights").create_group("Adam")
        o.create_dataset("iter:0", data=np.int64(7))
        for n, shape in (("m_kernel:0", (4, 3)), ("v_kernel:0", (4, 3)), ("m_bias:0", (3,)), ("v_bias:0", (3,))):
            o.create_dataset(n, data=np.zeros(shape, dtype=np.float32))
    with h5py.File(out("weights_only.h5"), "w") as f:
        f.attrs["layer_names"] = [b"dense_1"]
        f.attrs["backend"] = b"tensorflow"
        f.attrs["keras_version"] = b"2.15.0"
        g = f.create_group("dense_1").create_group("dense_1")
        g.create_dataset("kernel:0", data=np.ones((8, 4), dtype=np.float16))
        g.create_dataset("bias:0", data=np.zeros(4, dtype=np.float16))
        g["alias"] = g["kernel:0"]
    with h5py.File(out("dense_links.h5"), "w", libver="latest") as f:
        f.attrs["keras_version"] = "3.3.3"
        for i in range(40):
            f.create_group("layer_%02d" % i).create_dataset("w", data=np.ones(2, dtype=np.float32))


def signing_keyless_fixtures():
    """A bundle shaped as Sigstore keyless signing writes it: a ten-minute
    signing certificate carrying Fulcio's OIDC-issuer extension
    (1.3.6.1.4.1.57264.1.8), in verificationMaterial.certificate, issued by a
    stand-in Fulcio CA (testdata/trust/keyless-ca.pem), and a dsse entry of a
    stand-in Rekor log (key testdata/trust/keyless-rekor.pub) with its signed
    entry timestamp over the canonical JSON of body, integratedTime, logID
    and logIndex, as Rekor signs it, and an inclusion proof in a Merkle tree
    of 13 leaves (the entry is leaf 9) with the log's checkpoint, as Rekor v1
    returns them (see _inclusion). testdata/keyless-variants/ holds the same
    bundle broken one rule at a time, for the tests."""
    import base64
    import datetime
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
    trust = os.path.join(HERE, "trust")
    os.makedirs(trust, exist_ok=True)
    folder, files = _signed_folder("signed-keyless")
    now = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)
    import hashlib
    ca_key, leaf_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    rekor_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Annexa fixtures keyless CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=3650))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True).sign(ca_key, hashes.SHA256()))
    issuer = "https://accounts.example.org"
    # DER UTF8String of the issuer, as Fulcio encodes extension .1.8.
    value = bytes([0x0c, len(issuer)]) + issuer.encode()
    leaf = (x509.CertificateBuilder().subject_name(x509.Name([])).issuer_name(ca_name).public_key(leaf_key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now).not_valid_after(now + datetime.timedelta(minutes=10))
            .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=False, crl_sign=False,
                                         encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), critical=False)
            .add_extension(x509.SubjectAlternativeName([x509.RFC822Name("ml-release@example.org")]), critical=True)
            .add_extension(x509.UnrecognizedExtension(x509.ObjectIdentifier("1.3.6.1.4.1.57264.1.8"), value), critical=False)
            .sign(ca_key, hashes.SHA256()))
    with open(os.path.join(trust, "keyless-ca.pem"), "wb") as f:
        f.write(ca.public_bytes(serialization.Encoding.PEM))
    rekor_der = rekor_key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    with open(os.path.join(trust, "keyless-rekor.pub"), "wb") as f:
        f.write(rekor_key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    leaf_pem = leaf.public_bytes(serialization.Encoding.PEM)
    bundle = _dsse_bundle(leaf_key, _statement("signed-keyless", files), {})
    env = bundle["dsseEnvelope"]
    payload = base64.b64decode(env["payload"])
    body = {"apiVersion": "0.0.1", "kind": "dsse", "spec": {
        "envelopeHash": {"algorithm": "sha256", "value": hashlib.sha256(json.dumps(env).encode()).hexdigest()},
        "payloadHash": {"algorithm": "sha256", "value": hashlib.sha256(payload).hexdigest()},
        "signatures": [{"signature": env["signatures"][0]["sig"], "verifier": base64.b64encode(leaf_pem).decode()}]}}
    canonical = json.dumps(body, separators=(",", ":"), sort_keys=True).encode()
    log_id = hashlib.sha256(rekor_der).digest()
    integrated, index = int((now + datetime.timedelta(minutes=1)).timestamp()), 4242
    set_payload = json.dumps({"body": base64.b64encode(canonical).decode(), "integratedTime": integrated,
                              "logID": log_id.hex(), "logIndex": index}, separators=(",", ":"), sort_keys=True).encode()
    set_sig = rekor_key.sign(set_payload, ec.ECDSA(hashes.SHA256()))
    entry = {"logIndex": str(index), "logId": {"keyId": base64.b64encode(log_id).decode()},
             "kindVersion": {"kind": "dsse", "version": "0.0.1"}, "integratedTime": str(integrated),
             "inclusionPromise": {"signedEntryTimestamp": base64.b64encode(set_sig).decode()},
             "inclusionProof": None,
             "canonicalizedBody": base64.b64encode(canonical).decode()}
    bundle["verificationMaterial"] = {
        "certificate": {"rawBytes": base64.b64encode(leaf.public_bytes(serialization.Encoding.DER)).decode()},
        "tlogEntries": [entry]}
    other_key = ec.generate_private_key(ec.SECP256R1())
    variants = _inclusion(canonical, rekor_key, other_key)
    entry["inclusionProof"] = variants.pop("good")
    with open(os.path.join(folder, "model.sig"), "w") as f:
        json.dump(bundle, f, indent=2)
    vdir = os.path.join(HERE, "keyless-variants")
    os.makedirs(vdir, exist_ok=True)
    for name, proof in variants.items():
        e = dict(entry, inclusionProof=proof)
        if name.startswith("proof-only"):
            del e["inclusionPromise"]
        with open(os.path.join(vdir, name + ".sig"), "w") as f:
            json.dump(dict(bundle, verificationMaterial=dict(bundle["verificationMaterial"], tlogEntries=[e])), f, indent=2)


def _merkle_root(leaves):
    """MTH of RFC 6962 section 2.1, by its recursive definition."""
    import hashlib
    if len(leaves) == 1:
        return hashlib.sha256(b"\x00" + leaves[0]).digest()
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return hashlib.sha256(b"\x01" + _merkle_root(leaves[:k]) + _merkle_root(leaves[k:])).digest()


def _merkle_path(m, leaves):
    """PATH(m, D[n]) of RFC 6962 section 2.1.1: the audit path of leaf m."""
    if len(leaves) == 1:
        return []
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    if m < k:
        return _merkle_path(m, leaves[:k]) + [_merkle_root(leaves[k:])]
    return _merkle_path(m - k, leaves[k:]) + [_merkle_root(leaves[:k])]


def _checkpoint(key, size, root, origin="log.example.org - 4242", extra=()):
    """A Rekor v1 checkpoint: the note text (origin, size, base64 root,
    extension lines), a blank line, and "\u2014 <name> <base64(hint ||
    signature)>", the hint being the first 4 bytes of the SHA-256 of the
    signing key's PKIX DER and the signature ECDSA over the SHA-256 of the
    text (rekor pkg/util/signed_note.go)."""
    import base64
    import hashlib
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    text = "%s\n%d\n%s\n" % (origin, size, base64.b64encode(root).decode()) + "".join(l + "\n" for l in extra)
    der = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    sig = hashlib.sha256(der).digest()[:4] + key.sign(text.encode(), ec.ECDSA(hashes.SHA256()))
    return text + "\n\u2014 log.example.org " + base64.b64encode(sig).decode() + "\n"


def _inclusion(body, rekor_key, other_key):
    """The entry's inclusion proof in a log of 13 entries where it is leaf
    9 (neither first nor last), and variants that each break one rule:
    a hash of the audit path altered, a tree size of 12, for which leaf 9
    has a shorter path (with a checkpoint signed for it, so only the Merkle
    check can catch it; for sizes 13 to 16 the path of leaf 9 is the same,
    and only the checkpoint binds the size), a checkpoint signed by another key, one with the log's key
    hint but another key's signature, one of another root or size (each
    validly signed), no checkpoint, and the proof without the SET (good
    and with a bad path)."""
    import base64
    leaves = [b"annexa fixture log entry %d" % i for i in range(13)]
    m = 9
    leaves[m] = body
    root = _merkle_root(leaves)
    path = _merkle_path(m, leaves)

    def proof(size=13, root_hash=root, hashes=path, cp=None):
        return {"logIndex": str(m), "rootHash": base64.b64encode(root_hash).decode(), "treeSize": str(size),
                "hashes": [base64.b64encode(h).decode() for h in hashes],
                "checkpoint": {"envelope": cp if cp is not None else _checkpoint(rekor_key, size, root_hash)}}
    bad_path = list(path)
    bad_path[1] = bytes([path[1][0] ^ 1]) + path[1][1:]
    other_root = _merkle_root(leaves[:12] + [b"another entry"])
    hijacked = _checkpoint(other_key, 13, root)
    # The log's key hint in front of another key's signature.
    from cryptography.hazmat.primitives import serialization
    import hashlib
    good_hint = hashlib.sha256(rekor_key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)).digest()[:4]
    head, sigline = hijacked.rsplit("\n\n", 1)
    name, b64 = sigline.strip().rsplit(" ", 1)
    forged = head + "\n\n" + name + " " + base64.b64encode(good_hint + base64.b64decode(b64)[4:]).decode() + "\n"
    return {"good": proof(cp=_checkpoint(rekor_key, 13, root, extra=["Timestamp: 1767225660000000000"])),
            "bad-proof-hash": proof(hashes=bad_path),
            "wrong-tree-size": proof(size=12),
            "checkpoint-other-key": proof(cp=hijacked),
            "checkpoint-bad-signature": proof(cp=forged),
            "checkpoint-root-mismatch": proof(cp=_checkpoint(rekor_key, 13, other_root)),
            "checkpoint-size-mismatch": proof(cp=_checkpoint(rekor_key, 12, root)),
            "no-checkpoint": dict(proof(), checkpoint=None),
            "proof-only": proof(),
            "proof-only-bad-proof-hash": proof(hashes=bad_path)}


def _der(tag, content):
    """One DER element: tag, definite length, content."""
    n = len(content)
    if n < 0x80:
        return bytes([tag, n]) + content
    ln = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(ln)]) + ln + content


def _seq(*items):
    return _der(0x30, b"".join(items))


def _set(*items):
    return _der(0x31, b"".join(sorted(items)))  # DER sorts SET OF


def _int(n):
    return _der(0x02, n.to_bytes(n.bit_length() // 8 + 1, "big", signed=True))


def _oid(dotted):
    arcs = [int(a) for a in dotted.split(".")]
    body = b""
    for a in [40 * arcs[0] + arcs[1]] + arcs[2:]:
        enc = [a & 0x7F]
        a >>= 7
        while a:
            enc.insert(0, 0x80 | (a & 0x7F))
            a >>= 7
        body += bytes(enc)
    return _der(0x06, body)


SHA256_ALG = "2.16.840.1.101.3.4.2.1"


def _timestamp(tsa_key, tsa_cert, signature, gen_time, imprint=None, certs=True, ess="v2", ess_cert=None,
               tamper_attrs=False, tamper_tstinfo=False, cert_copies=1, junk_entries=0):
    """A DER TimeStampResp (RFC 3161) over signature, as a TSA answers:
    status granted, and a CMS SignedData token (RFC 5652) whose TSTInfo
    carries the SHA-256 imprint of the signature and gen_time, signed by
    tsa_key (ECDSA with SHA-256) over signed attributes holding the
    content type, the TSTInfo's digest and the ESS signing-certificate
    attribute (v2, RFC 5035, or v1, RFC 2634). The knobs break one rule
    each: another imprint, no certificate in the token, the ESS attribute
    naming another certificate, attributes swapped after signing, and the
    TSTInfo changed after signing."""
    import hashlib
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    def tstinfo(t):
        digest = imprint if imprint is not None else hashlib.sha256(signature).digest()
        return _seq(_int(1), _oid("1.3.6.1.4.1.57264.2"), _seq(_seq(_oid(SHA256_ALG), b"\x05\x00"), _der(0x04, digest)),
                    _int(0x1F2E3D4C5B6A), _der(0x18, t.encode()))
    tst = tstinfo(gen_time)
    cert_der = (ess_cert or tsa_cert).public_bytes(serialization.Encoding.DER)
    name = tsa_cert.issuer.public_bytes()
    issuer_serial = _seq(_seq(_der(0xA4, name)), _int((ess_cert or tsa_cert).serial_number))
    if ess == "v2":
        ess_attr = _seq(_oid("1.2.840.113549.1.9.16.2.47"),
                        _set(_seq(_seq(_seq(_der(0x04, hashlib.sha256(cert_der).digest()), issuer_serial)))))
    else:
        ess_attr = _seq(_oid("1.2.840.113549.1.9.16.2.12"),
                        _set(_seq(_seq(_seq(_der(0x04, hashlib.sha1(cert_der).digest()), issuer_serial)))))

    def attrs(signing_time):
        return [_seq(_oid("1.2.840.113549.1.9.3"), _set(_oid("1.2.840.113549.1.9.16.1.4"))),
                _seq(_oid("1.2.840.113549.1.9.5"), _set(_der(0x17, signing_time.encode()))),
                _seq(_oid("1.2.840.113549.1.9.4"), _set(_der(0x04, hashlib.sha256(tst).digest()))),
                ess_attr]
    signed = attrs(gen_time[2:14] + "Z")
    from cryptography.hazmat.primitives.asymmetric import padding, rsa
    if isinstance(tsa_key, rsa.RSAPrivateKey):
        # As OpenSSL writes it: the bare key algorithm, the hash from the
        # digest algorithm.
        sig_alg = "1.2.840.113549.1.1.1"
        sig = tsa_key.sign(_set(*signed), padding.PKCS1v15(), hashes.SHA256())
    else:
        sig_alg = "1.2.840.10045.4.3.2"
        sig = tsa_key.sign(_set(*signed), ec.ECDSA(hashes.SHA256()))
    if tamper_attrs:  # the signing-time attribute moved after signing
        signed = attrs("991231235959Z")
    if tamper_tstinfo:  # genTime moved after signing
        tst = tstinfo("20251231000000Z")
    signer = _seq(_int(1), _seq(name, _int(tsa_cert.serial_number)), _seq(_oid(SHA256_ALG)),
                  _der(0xA0, b"".join(sorted(signed))), _seq(_oid(sig_alg), b"\x05\x00" if "113549" in sig_alg else b""),
                  _der(0x04, sig))
    # junk_entries: empty [1] (attribute certificate) choices, which a
    # reader skips, before the certificate.
    cert_field = _der(0xA0, b"\x81\x00" * junk_entries + tsa_cert.public_bytes(serialization.Encoding.DER) * cert_copies) if certs else b""
    signed_data = _seq(_int(3), _set(_seq(_oid(SHA256_ALG))),
                       _seq(_oid("1.2.840.113549.1.9.16.1.4"), _der(0xA0, _der(0x04, tst))),
                       cert_field, _set(signer))
    token = _seq(_oid("1.2.840.113549.1.7.2"), _der(0xA0, signed_data))
    return _seq(_seq(_int(0)), token)


def signing_timestamp_fixtures():
    """RFC 3161 timestamps and Rekor v2 entries for the keyless bundle of
    signing_keyless (run that group first: this one reads its bundle, so
    the Fulcio and Rekor keys stay as they are). A stand-in TSA: a root
    (testdata/trust/tsa.pem) and a leaf with the one critical extended key
    usage timeStamping that signs the tokens (testdata/trust/tsa-with-leaf.pem
    holds both, for tokens that leave the leaf out). The DER is written by
    the small encoder above, from RFC 3161 and RFC 5652, since Debian has no
    asn1crypto. testdata/timestamp-variants/ holds the keyless bundle with
    timestamps, each variant breaking one rule, and Rekor v2 bundles: a
    dsse 0.0.2 entry in a 13-entry log whose checkpoint is a signed note of
    an Ed25519 key (testdata/trust/keyless-rekor-v2.pub) named by its
    c2sp.org/signed-note key ID."""
    import base64
    import copy
    import datetime
    import hashlib
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
    trust = os.path.join(HERE, "trust")
    vdir = os.path.join(HERE, "timestamp-variants")
    os.makedirs(vdir, exist_ok=True)
    with open(os.path.join(HERE, "signed-keyless", "model.sig")) as f:
        with_set = json.load(f)
    with open(os.path.join(HERE, "keyless-variants", "proof-only.sig")) as f:
        proof_only = json.load(f)
    now = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)

    def name(cn):
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    def ku(ca):
        return x509.KeyUsage(digital_signature=not ca, content_commitment=False, key_encipherment=False,
                             data_encipherment=False, key_agreement=False, key_cert_sign=ca, crl_sign=ca,
                             encipher_only=False, decipher_only=False)

    def ca(cn):
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (x509.CertificateBuilder().subject_name(name(cn)).issuer_name(name(cn)).public_key(key.public_key())
                .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
                .not_valid_after(now + datetime.timedelta(days=3650))
                .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                .add_extension(ku(True), critical=True).sign(key, hashes.SHA256()))
        return key, cert

    def leaf(cn, issuer_key, issuer, eku=True, start=now - datetime.timedelta(days=1), key=None):
        key = key or ec.generate_private_key(ec.SECP256R1())
        b = (x509.CertificateBuilder().subject_name(name(cn)).issuer_name(issuer.subject).public_key(key.public_key())
             .serial_number(x509.random_serial_number()).not_valid_before(start)
             .not_valid_after(now + datetime.timedelta(days=3650))
             .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
             .add_extension(ku(False), critical=True))
        if eku:
            b = b.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True)
        return key, b.sign(issuer_key, hashes.SHA256())

    root_key, root = ca("Annexa fixtures TSA root")
    tsa_key, tsa = leaf("Annexa fixtures TSA", root_key, root)
    _, other_tsa = leaf("Annexa fixtures TSA", root_key, root)
    noeku_key, noeku = leaf("Annexa fixtures no-EKU signer", root_key, root, eku=False)
    from cryptography.hazmat.primitives.asymmetric import rsa
    rsa_key, rsa_tsa = leaf("Annexa fixtures RSA TSA", root_key, root, key=rsa.generate_private_key(65537, 2048))
    # A TSA certificate issued after the time it vouches for (valid today,
    # not at genTime): the chain is judged at genTime.
    late_key, late = leaf("Annexa fixtures late TSA", root_key, root, start=now + datetime.timedelta(days=30))
    wrong_root_key, wrong_root = ca("Annexa fixtures other TSA root")
    wrong_key, wrong = leaf("Annexa fixtures other TSA", wrong_root_key, wrong_root)
    pem = lambda c: c.public_bytes(serialization.Encoding.PEM)
    with open(os.path.join(trust, "tsa.pem"), "wb") as f:
        f.write(pem(root))
    with open(os.path.join(trust, "tsa-with-leaf.pem"), "wb") as f:
        f.write(pem(tsa) + pem(root))

    def sig_of(bundle):
        return base64.b64decode(bundle["dsseEnvelope"]["signatures"][0]["sig"])

    def stamped(bundle, *stamps):
        b = copy.deepcopy(bundle)
        b["verificationMaterial"]["timestampVerificationData"] = {
            "rfc3161Timestamps": [{"signedTimestamp": base64.b64encode(s).decode()} for s in stamps]}
        return b

    sig = sig_of(with_set)
    good = "20260101000100Z"  # a minute after the ten-minute certificate's start
    variants = {
        "set-and-timestamp": stamped(with_set, _timestamp(tsa_key, tsa, sig, "20260101000130.25Z")),
        "proof-and-timestamp": stamped(proof_only, _timestamp(tsa_key, tsa, sig, good)),
        "proof-and-timestamp-ess-v1": stamped(proof_only, _timestamp(tsa_key, tsa, sig, good, ess="v1")),
        "proof-and-timestamp-rsa": stamped(proof_only, _timestamp(rsa_key, rsa_tsa, sig, good)),
        "proof-and-timestamp-no-cert": stamped(proof_only, _timestamp(tsa_key, tsa, sig, good, certs=False)),
        "timestamp-bad-imprint": stamped(proof_only, _timestamp(tsa_key, tsa, sig, good, imprint=hashlib.sha256(b"another signature").digest())),
        "timestamp-wrong-tsa": stamped(proof_only, _timestamp(wrong_key, wrong, sig, good)),
        "timestamp-expired-certificate": stamped(proof_only, _timestamp(tsa_key, tsa, sig, "20260101003000Z")),
        "timestamp-attributes-altered": stamped(proof_only, _timestamp(tsa_key, tsa, sig, good, tamper_attrs=True)),
        "timestamp-tstinfo-altered": stamped(proof_only, _timestamp(tsa_key, tsa, sig, good, tamper_tstinfo=True)),
        "timestamp-ess-other-certificate": stamped(proof_only, _timestamp(tsa_key, tsa, sig, good, ess_cert=other_tsa)),
        "timestamp-signer-not-tsa": stamped(proof_only, _timestamp(noeku_key, noeku, sig, good)),
        # Hostile but bounded: certificate-set entries the reader skips,
        # filling the 32 KiB a timestamp may take, and more certificates
        # than it reads.
        "timestamp-skipped-entries": stamped(proof_only, _timestamp(tsa_key, tsa, sig, good, junk_entries=15000)),
        "timestamp-nine-certificates": stamped(proof_only, _timestamp(tsa_key, tsa, sig, good, cert_copies=9)),
        "timestamp-tsa-not-yet-valid": stamped(proof_only, _timestamp(late_key, late, sig, good)),
        # The SET holds, but a second time source is wrong: all must hold.
        "set-and-bad-timestamp": stamped(with_set, _timestamp(tsa_key, tsa, sig, good, imprint=bytes(32))),
        "set-and-expired-timestamp": stamped(with_set, _timestamp(tsa_key, tsa, sig, "20260101003000Z")),
    }

    # Rekor v2: the same signature in a dsse 0.0.2 entry of an Ed25519 log.
    log_key = ed25519.Ed25519PrivateKey.generate()
    raw_pub = log_key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    with open(os.path.join(trust, "keyless-rekor-v2.pub"), "wb") as f:
        f.write(log_key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    origin = "log2026.rekor.example.org"
    key_id = hashlib.sha256(origin.encode() + b"\n\x01" + raw_pub).digest()
    cert_b64 = with_set["verificationMaterial"]["certificate"]["rawBytes"]
    payload = base64.b64decode(with_set["dsseEnvelope"]["payload"])

    def v2body(sig_b64):
        return json.dumps({"apiVersion": "0.0.2", "kind": "dsse", "spec": {"dsseV002": {
            "payloadHash": {"algorithm": "SHA2_256", "digest": base64.b64encode(hashlib.sha256(payload).digest()).decode()},
            "signatures": [{"content": sig_b64,
                            "verifier": {"keyDetails": "PKIX_ECDSA_P256_SHA_256", "x509Certificate": {"rawBytes": cert_b64}}}]}}},
            separators=(",", ":")).encode()


    def note(signer, rh, size):
        """A Rekor v2 checkpoint: a c2sp.org/signed-note whose signature line
        is the origin, the 4-byte key ID and Ed25519 over the text."""
        text = "%s\n%d\n%s\n" % (origin, size, base64.b64encode(rh).decode())
        return text + "\n\u2014 " + origin + " " + base64.b64encode(key_id[:4] + signer.sign(text.encode())).decode() + "\n"

    def v2(signer=log_key, stamps=True, body=v2body(with_set["dsseEnvelope"]["signatures"][0]["sig"]), size=13):
        """The bundle with a Rekor v2 entry: leaf 9 of a 13-entry log."""
        leaves = [b"annexa v2 fixture entry %d" % i for i in range(13)]
        leaves[9] = body
        root_hash = _merkle_root(leaves)
        b = copy.deepcopy(with_set)
        b["verificationMaterial"]["tlogEntries"] = [{
            "logIndex": "9", "logId": {"keyId": base64.b64encode(key_id).decode()},
            "kindVersion": {"kind": "dsse", "version": "0.0.2"},
            "inclusionProof": {"logIndex": "9", "rootHash": base64.b64encode(root_hash).decode(), "treeSize": "13",
                               "hashes": [base64.b64encode(h).decode() for h in _merkle_path(9, leaves)],
                               "checkpoint": {"envelope": note(signer, root_hash, size)}},
            "canonicalizedBody": base64.b64encode(body).decode()}]
        return stamped(b, _timestamp(tsa_key, tsa, sig, good)) if stamps else b
    variants["rekor-v2"] = v2()
    variants["rekor-v2-no-timestamp"] = v2(stamps=False)
    variants["rekor-v2-checkpoint-other-key"] = v2(signer=ed25519.Ed25519PrivateKey.generate())
    variants["rekor-v2-checkpoint-size-mismatch"] = v2(size=14)
    # The log holds (and proves) an entry of another signature under the
    # same certificate: it is not this bundle's.
    variants["rekor-v2-other-signature"] = v2(body=v2body(base64.b64encode(b"another signature").decode()))
    for n, b in variants.items():
        with open(os.path.join(vdir, n + ".sig"), "w") as f:
            json.dump(b, f, indent=2)


GROUPS = {"byhand": byhand_fixtures, "torch": torch_fixtures, "onnx": onnx_fixtures, "joblib": joblib_fixtures, "keras": keras_fixtures, "signing": signing_fixtures,
          "keras_weights": keras_weights_fixtures,
          "signing_key": signing_key_fixtures, "signing_cert": signing_cert_fixtures,
          "signing_keyless": signing_keyless_fixtures, "signing_timestamp": signing_timestamp_fixtures}
GROUPS["joblib_more"] = joblib_more_fixtures


def main():
    for g in sys.argv[1:] or GROUPS:
        GROUPS[g]()
    for name in sorted(os.listdir(OUT)):
        size = os.path.getsize(os.path.join(OUT, name))
        assert size < 50 * 1024, (name, size)
        print(f"{size:8d} {name}")


if __name__ == "__main__":
    sys.exit(main())
