// Command annexa-plugin-access is the built-in access-log plugin; the
// Annexa agent starts it, and it is not meant to be run by hand.
package main

import (
	"github.com/annexa/annexa/plugins/access"
	"github.com/annexa/annexa/plugins/sdk"
)

func main() { sdk.Serve(access.New()) }
