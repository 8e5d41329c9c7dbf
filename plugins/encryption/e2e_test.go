package encryption

import (
	"encoding/json"
	"flag"
	"net"
	"os"
	"strings"
	"testing"

	"github.com/annexa/annexa/plugins/plugintest"
	"github.com/annexa/annexa/plugins/sdk"
)

const pkg = "github.com/annexa/annexa/plugins/encryption/cmd/annexa-plugin-encryption"

func TestMain(m *testing.M) {
	flag.Parse()
	code := m.Run()
	plugintest.Cleanup()
	os.Exit(code)
}

// TestExecutable builds the real plugin and drives it over go-plugin, as
// the agent does: conformance, then a collection over the fixture roots.
func TestExecutable(t *testing.T) {
	exe := plugintest.Build(t, pkg)
	r, assets := fixture(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().String()
	l.Close()
	settings, _ := json.Marshal(map[string]any{
		"asset_roots": assets, "endpoints": []string{closed}, "timeout": "2s",
		"proc_root": r.proc, "sys_root": r.sys, "dev_root": r.dev,
	})

	t.Run("conformance", func(t *testing.T) {
		plugintest.Conformance(t, exe, string(settings))
	})

	t.Run("collect", func(t *testing.T) {
		h := plugintest.Start(t, exe)
		if _, err := h.Configure(t, string(settings), t.TempDir()); err != nil {
			t.Fatal(err)
		}
		if _, err := h.Configure(t, `{"asset_roots":["rel"],"timeout":"x"}`, ""); err == nil || !strings.Contains(err.Error(), "asset_roots[0]") {
			t.Errorf("bad settings: %v", err)
		}
		recs, _, err := h.Collect(t, sdk.Request{Full: true})
		if err != nil {
			t.Fatal(err)
		}
		vols, eps := map[string]Volume{}, map[string]Endpoint{}
		for _, rec := range recs {
			switch rec.Kind {
			case KindVolume:
				var v Volume
				json.Unmarshal(rec.Attributes, &v)
				vols[rec.Subject] = v
			case KindEndpoint:
				var e Endpoint
				json.Unmarshal(rec.Attributes, &e)
				eps[rec.Subject] = e
			}
		}
		if v := vols["volume:/dev/mapper/data"]; v.Scheme != SchemeLUKS2 || v.Cipher != "aes-xts-plain64" || len(v.Covers) != 2 {
			t.Errorf("data volume %+v", v)
		}
		if v := vols["volume:/dev/sdb1"]; v.Scheme != SchemeNone || v.Encrypted == nil || *v.Encrypted {
			t.Errorf("plain volume %+v", v)
		}
		if len(vols) != 8 {
			t.Errorf("%d volumes", len(vols))
		}
		if e, ok := eps["endpoint:"+closed]; !ok || e.Error == "" || e.Address != closed {
			t.Errorf("closed endpoint %+v", e)
		}
	})
}
