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
//	0  success (push: every targeted device runs the version)
//	1  the operation failed (push: a device rejected the module, failed,
//	   rolled it back, or a newer push superseded it; the controller
//	   answered an error, the controller is unreachable, ...)
//	2  usage error (unknown command, bad or missing flag)
//	3  timeout (push: the controller timed a device out at the
//	   deployment's deadline, or --wait elapsed first; a request timed
//	   out; a device did not answer in time: logs, 504)
//
// When both apply, 1 wins over 3: a known failure is worth more than an
// unknown outcome.
//
// # Deployment states
//
// Per device, "edgectl push" and "edgectl deployment ID" show pending, the
// steps the agent reports (fetching, verifying, compiling, starting,
// probing) and one terminal state with its reason: running, rejected,
// failed, rolled_back, superseded (a newer deployment of the module
// replaced it in the device's desired state) or timed_out (no terminal
// report by the deployment's deadline: edge-control --deploy-timeout,
// default 10m, after the push; the reason says what the controller last
// knew, e.g. "the device never connected"). push waits until every device
// is in a terminal state, which the controller guarantees by the
// deadline; its --wait (default 15m) only bounds that.
//
// The controller's address comes from --control, else the EDGE_CONTROL
// environment variable, else DefaultControl. Flags may be written -flag or
// --flag, before or after positional arguments.
//
// edgectl links neither wazero nor an MQTT client: it talks HTTP to the
// controller only.
package edgectl
