package pickle

import (
	"strings"
)

// The lists below decide how an import is rated. They are matched on the
// fully qualified dotted name (module + "." + name, lower-cased for the
// deny and high lists): an entry matches itself and everything beneath it,
// so "os" covers os.system and os.path.join, and "torch.load" covers
// torch.load only. The allowlist is exact. Order: allow, then critical,
// then high; everything else is suspicious.
//
// Sources: the denylists of picklescan (mmaitre314/picklescan
// scanner.py _unsafe_globals), modelscan (protectai/modelscan settings.py
// unsafe_globals) and fickling (trailofbits/fickling UNSAFE_IMPORTS and
// its builtins rules), plus the published bypasses listed in
// shared/LESSONS.md (importlib, inspect, pkgutil.resolve_name, pydoc.locate,
// numpy.testing runstring, torch storage _load_from_bytes).

// Allowlist is what a PyTorch or NumPy checkpoint needs and nothing else.
var Allowlist = setOf(
	"collections.OrderedDict",
	"torch._utils._rebuild_tensor", "torch._utils._rebuild_tensor_v2", "torch._utils._rebuild_parameter",
	"torch._utils._rebuild_parameter_with_state",
	"torch.FloatStorage", "torch.HalfStorage", "torch.BFloat16Storage", "torch.LongStorage", "torch.IntStorage",
	"torch.ByteStorage", "torch.BoolStorage", "torch.DoubleStorage", "torch.CharStorage", "torch.ShortStorage",
	"torch.ComplexFloatStorage", "torch.ComplexDoubleStorage", "torch.QInt8Storage", "torch.QUInt8Storage",
	"torch.QInt32Storage", "torch.QUInt4x2Storage", "torch.QUInt2x4Storage", "torch.UntypedStorage",
	"torch.storage.UntypedStorage",
	"torch.device", "torch.Size",
	"torch.float16", "torch.float32", "torch.float64", "torch.bfloat16", "torch.half", "torch.float", "torch.double",
	"torch.int8", "torch.int16", "torch.int32", "torch.int64", "torch.uint8", "torch.bool", "torch.long", "torch.int",
	"torch.short", "torch.complex64", "torch.complex128",
	"numpy.core.multiarray._reconstruct", "numpy._core.multiarray._reconstruct",
	"numpy.core.multiarray.scalar", "numpy._core.multiarray.scalar",
	"numpy.dtype", "numpy.ndarray",
	"_codecs.encode",
	// joblib's array placeholder: its state only sizes the raw array bytes
	// that follow it, which the scanner skips (see joblib.go).
	"joblib.numpy_pickle.NumpyArrayWrapper",
	"builtins.set", "builtins.frozenset", "builtins.bytearray", "builtins.slice", "builtins.complex",
)

// Denylist rates an import critical: code execution, imports by name,
// attribute access by name, or loading another pickle.
var Denylist = []string{
	// Process, interpreter and import machinery.
	"os", "posix", "nt", "subprocess", "_posixsubprocess", "sys", "runpy", "importlib", "pkgutil", "imp",
	"inspect", "code", "codeop", "commands", "popen2", "pty", "shutil", "socket", "_socket", "ctypes", "_ctypes",
	"multiprocessing", "signal", "threading", "_thread", "asyncio", "pdb", "bdb", "timeit", "cprofile", "profile",
	"trace", "pydoc", "webbrowser", "marshal", "platform", "ensurepip", "pip", "venv", "distutils", "setuptools",
	"site", "sysconfig", "gc", "_winapi", "msvcrt", "winreg",
	// Everything in builtins except the allowlisted constructors:
	// eval, exec, compile, open, getattr, setattr, delattr, __import__,
	// breakpoint, input, globals, locals, vars, type, and apply/execfile/
	// file/reload via the Python 2 names mapped to builtins.
	"builtins", "__builtins__",
	// Code objects and functions built from parts.
	"types.codetype", "types.functiontype", "types.methodtype", "types.moduletype", "types.lambdatype",
	"types.simplenamespace",
	// Nested unpicklers and serialisers that execute on load.
	"pickle", "_pickle", "cpickle", "dill", "cloudpickle", "shelve", "jsonpickle", "joblib.load",
	"numpy.load", "numpy.lib.npyio", "numpy.testing._private.utils.runstring", "numpy.f2py", "numpy.distutils",
	// Attribute and call gadgets.
	"operator.attrgetter", "operator.itemgetter", "operator.methodcaller", "_operator",
	"functools.partial", "functools.reduce", "_functools",
	// Framework loaders and code paths.
	"torch.load", "torch.serialization", "torch.hub", "torch.jit", "torch.package", "torch.utils.cpp_extension",
	"torch.storage._load_from_bytes", "torch._c", "torch.ops", "torch._dynamo", "torch.classes",
	"torch._inductor", "torch.compiler", "torch._export", "torch.export", "torch.fx.experimental",
	"tensorflow.io", "tensorflow.python.io", "keras.layers.lambda", "__main__.__builtins__",
}

// Highlist rates an import high: network or file access.
var Highlist = []string{
	"requests", "urllib", "urllib2", "urllib3", "http", "httplib", "httplib2", "httpx", "aiohttp", "ftplib",
	"smtplib", "poplib", "imaplib", "telnetlib", "nntplib", "xmlrpc", "xmlrpclib", "ssl", "socketserver",
	"io.open", "io.open_code", "io.fileio", "_io.open", "_io.fileio", "_io.open_code", "codecs.open",
	"pathlib", "tempfile", "glob", "fileinput", "linecache", "tarfile", "zipfile", "gzip.open", "bz2.open",
	"lzma.open", "dbm", "sqlite3", "mmap", "filecmp", "netrc", "mailbox",
}

func setOf(xs ...string) map[string]bool {
	m := make(map[string]bool, len(xs))
	for _, x := range xs {
		m[x] = true
	}
	return m
}

// Classify rates one import and says why.
func Classify(module, name string) (Severity, string) {
	full := module + "." + name
	if Allowlist[full] {
		return Info, "on the allowlist"
	}
	// A dotted name is an attribute path: torch + os.system reaches
	// os.system through torch's own import of os. Rate every tail of it.
	cands := []string{strings.ToLower(full)}
	parts := strings.Split(strings.ToLower(name), ".")
	for i := range len(parts) - 1 {
		cands = append(cands, strings.Join(parts[i:], "."))
	}
	for _, c := range cands {
		if e := match(c, Denylist); e != "" {
			return Critical, "on the denylist (" + e + "): it can run code or load code when unpickled"
		}
	}
	for _, c := range cands {
		if e := match(c, Highlist); e != "" {
			return High, "on the network and file access list (" + e + ")"
		}
	}
	return Suspicious, "not on the allowlist; unpickling calls or builds it"
}

// match returns the first entry that is full or a dotted prefix of it.
func match(full string, list []string) string {
	for _, e := range list {
		if full == e || strings.HasPrefix(full, e+".") {
			return e
		}
	}
	return ""
}
