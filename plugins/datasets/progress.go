package datasets

import (
	"context"
	"os"

	"github.com/annexa/annexa/plugins/sdk"
)

// countAhead counts the data files a full collection will examine, and
// their bytes, by walking every dataset it will scan, and sets them as the
// collection's totals when it is over. The collection itself walks and
// hashes one dataset after another (memory holds one file list), so it
// knows its totals only at the end. The extra walk reads metadata the
// collection reads anyway, so it runs only when a person waits for the
// collection; the daemon's scans show totals as they are found. The
// returned stop ends the walk and waits for it.
func (p *Plugin) countAhead(ctx context.Context) (stop func()) {
	prog := sdk.ProgressFrom(ctx)
	if prog == nil {
		return func() {}
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if files, bytes, ok := p.count(ctx); ok {
			prog.Total(files, bytes)
		}
	}()
	return func() { cancel(); <-done }
}

// count walks what a full collection scans, by the same rules: each
// root's candidates, the files each dataset's walk finds, and the marked
// datasets nested in them.
func (p *Plugin) count(ctx context.Context) (files int, bytes int64, ok bool) {
	seen := map[string]bool{}
	for _, root := range p.set.Roots {
		if fi, err := os.Stat(root); err != nil || !fi.IsDir() {
			continue
		}
		entries, _ := os.ReadDir(root)
		queue := p.rootTargets(root, entries)
		for len(queue) > 0 {
			t := queue[0]
			queue = queue[1:]
			if seen[t.path] {
				continue
			}
			seen[t.path] = true
			w := p.datasetFiles(ctx, t)
			if ctx.Err() != nil {
				return 0, 0, false
			}
			if w == nil {
				continue
			}
			for _, f := range w.files {
				files++
				if f.info != nil {
					bytes += f.info.Size()
				}
			}
			for _, n := range w.nested {
				queue = append(queue, target{path: n, root: t.root, needMarker: true})
			}
		}
	}
	return files, bytes, true
}

// datasetFiles walks one candidate as scan does, without reading any
// file; nil when scan would not walk it.
func (p *Plugin) datasetFiles(ctx context.Context, t target) *walker {
	fi, err := p.statDir(t.path)
	if err != nil {
		return nil
	}
	entries, err := os.ReadDir(t.path)
	if err != nil && len(entries) == 0 {
		return nil
	}
	mk := marker(t.path, entries)
	if t.needMarker && mk == "" {
		return nil
	}
	topOnly := mk == "" && t.path == t.root
	w := &walker{p: p, ctx: ctx, dataset: t.path, topOnly: topOnly, probs: &problems{}, visited: map[[2]uint64]bool{}}
	if st := sdk.StatOf(fi); st.OK {
		w.visited[[2]uint64{st.Dev, st.Ino}] = true
	}
	w.walkEntries(t.path, "", entries)
	return w
}
