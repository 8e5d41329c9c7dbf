// Command annexa-plugin-datasets is the built-in dataset inventory plugin;
// the Annexa agent starts it, and it is not meant to be run by hand.
package main

import (
	"github.com/annexa/annexa/plugins/datasets"
	"github.com/annexa/annexa/plugins/sdk"
)

func main() { sdk.Serve(datasets.New()) }
