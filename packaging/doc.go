// Package packaging holds what system packages install: systemd units and
// default configs. Its test checks them with the tools a distribution
// would use and with the agent's own config loader.
package packaging
