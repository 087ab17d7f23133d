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
// A controller that cannot be reached, or goes away mid-request (a crash,
// a restart), is said in words ("cannot reach the controller at URL: the
// connection was cut ..."), once, and the request is tried again every
// 300 ms where that is safe: the polling of a deployment, rollout or
// undeploy (up to --wait), and the module upload (an idempotent PUT by
// digest; up to a minute). An error answer shows the HTTP status once
// ("Conflict: rollout r1 is done"), however the controller's message
// begins or ends.
//
// # Staged rollouts, rollbacks and the operator's other actions
//
// "push --waves" signs the new version and one rollback statement per
// version the targets serve (re-signed one epoch up, only if the operator's
// own key signed the original), creates a rollout and follows it: exit 0
// when every wave passed, 1 when it rolled back or was aborted, 3 when
// --wait ended first. "rollback" re-signs an earlier version one epoch up
// (the agents' anti-rollback floor accepts it; replays of anything signed
// before stay refused): --to VERSION, or by default on each device the
// version that the one it serves replaced; with nothing to go back to (or
// only to what already serves) it refuses, exit 1, naming what serves and
// what the last push did. "undeploy" removes a module from the desired
// state of the devices selected as push and rollback select them (POST
// /api/v1/undeploy: a wire.UndeployRequest answered by a
// wire.UndeployResult naming the entry removed per device) and waits until each device's status no
// longer lists it; the agent stops it and keeps its data folder.
// "rollout status|pause|resume|abort", "deployment
// cancel", "label" and "quarantine list|clear" are plain API calls:
// nothing they do needs the key, and none of them can make a board run
// code the operator did not sign. Every push first asks the controller for
// a plan (POST /api/v1/plan): the module's epoch, and whether every node
// is known (a typo fails before anything is signed or sent).
//
// # Modules from OCI registries
//
// "publish FILE oci://REGISTRY/REPO:TAG" stores a module in a registry as
// a Wasm artifact (package internal/ociwasm) and signs nothing. "push
// oci://REGISTRY/REPO:TAG" resolves the tag once, reads the module by
// digest and checks it as a file is checked, signs its sha256 (the
// operator signs what edgectl verified, never a digest it was told), and
// asks the controller to pull that manifest digest (POST
// /api/v1/blobs/{sha256}/pull) instead of uploading: the controller checks
// the bytes against the signed sha256 before it stores them. Credentials
// come from the Docker config.json (or --registry-config), or
// EDGE_REGISTRY_USER/EDGE_REGISTRY_PASSWORD/EDGE_REGISTRY_TOKEN; plain
// HTTP only to loopback or with --plain-http.
//
// # Deployment states
//
// Per device, "edgectl push" and "edgectl deployment ID" show pending, the
// steps the agent reports (fetching, verifying, compiling, starting,
// probing) and one terminal state with its reason: running, rejected,
// failed, rolled_back, superseded (a newer deployment of the module
// replaced it in the device's desired state), cancelled (the operator's
// deployment cancel), removed (edgectl device remove: no longer the
// fleet's; push counts it neither running nor failed) or timed_out (no terminal
// report by the deployment's deadline: edge-control --deploy-timeout,
// default 10m, after the push; the reason says what the controller last
// knew, e.g. "the device never connected"). push waits until every device
// is in a terminal state, which the controller guarantees by the
// deadline; its --wait (default 15m) only bounds that.
//
// The controller's address comes from --control, else the EDGE_CONTROL
// environment variable, else the config file, else DefaultControl; the
// operator token (sent as "Authorization: Bearer") from --token-file, else
// EDGE_TOKEN, else the config file (config.go). An https:// controller's
// certificate is verified against --ca-file, else EDGE_CA_FILE, else the
// system's CAs. Flags may be written -flag or --flag, before or after
// positional arguments; the controller flags (--control, --ca-file,
// --token-file, --json) also before the command (globals.go).
//
// device add, rotate and remove are the device life cycle (devices.go):
// add refuses an id registered already (409) and names rotate; add and
// rotate print the password once or write it to a new 0600 file
// (--password-file). "token create|list|revoke" manage operator tokens
// and need an admin token (token.go).
//
// edgectl links neither wazero nor an MQTT client: it talks HTTP to the
// controller, and to OCI registries for publish and push oci://.
package edgectl
