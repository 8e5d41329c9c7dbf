// Command annexa-plugin-models is the built-in model inventory plugin; the
// Annexa agent starts it, and it is not meant to be run by hand.
package main

import (
	"github.com/annexa/annexa/plugins/models"
	"github.com/annexa/annexa/plugins/sdk"
)

func main() {
	models.TuneGC()
	sdk.Serve(models.New())
}
