// Package edgectl is the operator's command-line tool: it creates the
// signing key, signs and pushes modules, and shows the fleet. cmd/edgectl is
// a thin main around Run.
//
// # Trust model
//
// The private key is created by "edgectl keygen" on the operator's machine
// and never leaves it: edgectl signs each module's Manifest locally
// (wire.Sign), verifies its own envelope with the agents' verification code
// (wire.Keyring.Verify) before anything is sent, and hands the controller
// only the module bytes and the signed envelope. The controller never signs
// and holds no private key; agents trust only the public keys installed on
// them, so a compromised controller or broker can withhold or replay a
// signed update but cannot make a board run code the operator did not sign.
//
// # Command-line contract
//
//	edgectl <verb | noun verb> [flags]
//
// Results go to stdout (tables, or JSON with --json: the wire types encoded
// as the controller's API encodes them, stable for scripts); progress and
// diagnostics go to stderr. Exit codes:
//
//	0  success
//	1  the operation failed (a device rejected the module, the controller
//	   answered an error, the controller is unreachable, ...)
//	2  usage error (unknown command, bad or missing flag)
//	3  timeout (push --wait elapsed, a request timed out, or a device did
//	   not answer in time: logs, 504)
//
// The controller's address comes from --control, else the EDGE_CONTROL
// environment variable, else DefaultControl. Flags may be written -flag or
// --flag, before or after positional arguments.
//
// edgectl links neither wazero nor an MQTT client: it talks HTTP to the
// controller only.
package edgectl
