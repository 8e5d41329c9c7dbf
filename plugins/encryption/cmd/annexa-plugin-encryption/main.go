// Command annexa-plugin-encryption is the built-in encryption-state plugin;
// the Annexa agent starts it, and it is not meant to be run by hand.
package main

import (
	"github.com/annexa/annexa/plugins/encryption"
	"github.com/annexa/annexa/plugins/sdk"
)

func main() { sdk.Serve(encryption.New()) }
