// Command annexa-plugin-models is the built-in model inventory plugin; the
// Annexa agent starts it, and it is not meant to be run by hand.
package main

import (
	"os"
	"runtime/debug"

	"github.com/annexa/annexa/plugins/models"
	"github.com/annexa/annexa/plugins/sdk"
)

func main() {
	if os.Getenv("GOGC") == "" {
		// The live heap stays small (a few folders' rows and buffers)
		// while a scan allocates briskly: collecting at 5× the live heap
		// rather than 2× takes a fifth off a rescan's CPU and keeps the
		// peak near 60 MiB. The agent's GOMEMLIMIT still bounds it.
		debug.SetGCPercent(400)
	}
	sdk.Serve(models.New())
}
