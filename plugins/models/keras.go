package models

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/annexa/annexa/plugins/models/pickle"
)

// Keras saves the architecture as JSON: config.json inside a .keras zip
// (Keras 3), or the model_config attribute of an HDF5 file's root group
// (.h5, Keras 2 and Keras 3's legacy format). Loading it imports every
// module it names and, for a Lambda layer, unmarshals and runs Python
// bytecode stored in the config, unless safe_mode blocks it (Keras 3
// only; safe_mode=False or enable_unsafe_deserialization() lifts it). So
// the config is walked for Lambda layers, objects from modules outside
// Keras, and switches that turn safe mode off.

const (
	maxKerasConfig = 32 << 20
	maxKerasDepth  = 512
	maxKerasFinds  = 64
)

// kerasModules are the module prefixes of Keras's own objects.
var kerasModules = []string{"keras", "tf_keras", "tensorflow.keras"}

type kerasWalk struct {
	a     *Analysis
	finds int
	// seen de-duplicates module findings.
	seen []string
}

func (w *kerasWalk) add(rule string, sev pickle.Severity, format string, args ...any) {
	if w.finds >= maxKerasFinds {
		return
	}
	w.finds++
	w.a.add(rule, sev, format, args...)
}

// analyzeKerasConfig reads a Keras model config.
func analyzeKerasConfig(a *Analysis, where string, raw []byte) {
	var cfg any
	if err := json.Unmarshal(raw, &cfg); err != nil {
		a.parseError(fmt.Errorf("%s is not JSON: %w", where, err))
		return
	}
	if top, ok := cfg.(map[string]any); ok {
		if cn, ok := top["class_name"].(string); ok {
			a.Architecture = clip(cn, 128)
		}
		if c, ok := top["config"].(map[string]any); ok {
			if n, ok := c["name"].(string); ok {
				a.ModelName = clip(n, 256)
			}
		}
	}
	w := &kerasWalk{a: a}
	w.walk(cfg, 0, "")
	if w.finds >= maxKerasFinds {
		a.add("keras.findings.truncated", pickle.Suspicious, "more than %d findings in %s; the rest were not recorded", maxKerasFinds, where)
	}
}

// walk visits every object; layer is the name of the innermost layer.
func (w *kerasWalk) walk(v any, depth int, layer string) {
	if depth > maxKerasDepth {
		w.add("parse.error", pickle.Suspicious, "keras: config nested deeper than %d", maxKerasDepth)
		return
	}
	switch x := v.(type) {
	case []any:
		for _, e := range x {
			w.walk(e, depth+1, layer)
		}
	case map[string]any:
		cn, _ := x["class_name"].(string)
		if c, ok := x["config"].(map[string]any); ok {
			if n, ok := c["name"].(string); ok {
				layer = clip(n, 128)
			}
		}
		switch cn {
		case "Lambda":
			w.lambda(layer, "Lambda layer %q: its function is Python bytecode stored in the config, run when the model is loaded with safe_mode off (and always by Keras 2)")
		case "__lambda__":
			w.lambda(layer, "layer %q holds a Python lambda serialised as bytecode, run when the model is loaded with safe_mode off")
		}
		if mod, ok := x["module"].(string); ok && cn != "" {
			w.module(mod, cn, layer)
		}
		if rn, ok := x["registered_name"].(string); ok && strings.Contains(rn, ">") {
			w.custom("registered_name "+rn, layer)
		}
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			e := x[k]
			if (k == "safe_mode" && e == false) || (k == "unsafe_deserialization" && e == true) {
				w.add("keras.safe_mode", pickle.High, "the config sets %s=%v (in layer %q): it asks loaders to allow code in the config", k, e, layer)
			}
			if k == "function_type" && e == "lambda" {
				w.lambda(layer, "layer %q has a function of type lambda: Python bytecode in the config")
			}
			w.walk(e, depth+1, layer)
		}
	}
}

// module rates an object that Keras imports by module and class name.
func (w *kerasWalk) module(mod, cn, layer string) {
	if slices.ContainsFunc(kerasModules, func(p string) bool { return mod == p || strings.HasPrefix(mod, p+".") }) {
		return
	}
	key := mod + "." + cn
	if slices.Contains(w.seen, key) || len(w.seen) >= maxListed {
		return
	}
	w.seen = append(w.seen, key)
	// The pickle lists rate the import: Keras resolves module + name
	// with importlib, as an unpickler resolves a global.
	sev, why := pickle.Classify(mod, cn)
	if sev.Rank() < pickle.High.Rank() {
		sev, why = pickle.Suspicious, "its code runs when the model is loaded"
	}
	w.add("keras.module", sev, "layer %q: loading imports %s.%s from outside Keras: %s", layer, clip(mod, 128), clip(cn, 128), why)
}

// lambda reports bytecode once per layer.
func (w *kerasWalk) lambda(layer, format string) {
	key := "lambda\x00" + layer
	if slices.Contains(w.seen, key) {
		return
	}
	w.seen = append(w.seen, key)
	w.add("keras.lambda", pickle.High, format, layer)
}

func (w *kerasWalk) custom(what, layer string) {
	if slices.Contains(w.seen, what) || len(w.seen) >= maxListed {
		return
	}
	w.seen = append(w.seen, what)
	w.add("keras.custom_object", pickle.Suspicious, "layer %q: custom object (%s) whose code must be imported to load the model", layer, clip(what, 200))
}

// readKerasMember reads a small JSON member of a .keras zip.
func readKerasMember(open func() (io.ReadCloser, error)) ([]byte, error) {
	rc, err := open()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, maxKerasConfig+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxKerasConfig {
		return nil, fmt.Errorf("larger than %d bytes", maxKerasConfig)
	}
	return b, nil
}

// kerasMetadata takes keras_version from metadata.json.
func kerasMetadata(a *Analysis, raw []byte) {
	var md map[string]any
	if json.Unmarshal(raw, &md) != nil {
		return
	}
	if v, ok := md["keras_version"].(string); ok {
		a.KerasVersion = clip(v, 64)
	}
}
