package edgectl

import (
	"flag"
	"fmt"
	"strings"

	"github.com/edgeplane/edge/wire"
)

// apiFlags are the flags of every command that talks to the controller.
type apiFlags struct {
	control   string
	tokenFile string
	json      bool
	caFile    string
}

func (a *apiFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&a.control, "control", "", "controller `URL` (default: $EDGE_CONTROL, else the config file's, else "+DefaultControl+")")
	fs.StringVar(&a.tokenFile, "token-file", "", "read the operator token from `FILE` (default: $EDGE_TOKEN, else the config file's)")
	fs.BoolVar(&a.json, "json", false, "print stable JSON on stdout")
	fs.StringVar(&a.caFile, "ca-file", "", "CA certificate `file` (PEM) the controller's HTTPS certificate is verified with (default: $EDGE_CA_FILE, else the config file's ca_file, else the system's CAs)")
}

// client returns a client for the controller chosen by --control,
// EDGE_CONTROL, the config file or the default, in that order, with the
// token of --token-file, EDGE_TOKEN or the config file (config.go).
func (a *apiFlags) client(cl *cli, cmd string) (*client, error) {
	conf, _, err := cl.loadConfig()
	if err != nil {
		return nil, err
	}
	addr := a.control
	if addr == "" {
		addr = cl.getenv("EDGE_CONTROL")
	}
	if addr == "" {
		addr = conf.Control
	}
	if addr == "" {
		addr = DefaultControl
	}
	c, err := newClient(addr)
	if err != nil {
		return nil, usagef(cmd, "%s: %v", cmd, err)
	}
	caFile := a.caFile
	if caFile == "" {
		caFile = cl.getenv("EDGE_CA_FILE")
	}
	if caFile == "" {
		caFile = conf.CAFile
	}
	if err := c.useCA(caFile); err != nil {
		return nil, usagef(cmd, "%s: %v", cmd, err)
	}
	switch {
	case a.tokenFile != "":
		if c.token, err = readTokenFile(a.tokenFile); err != nil {
			return nil, err
		}
	case cl.getenv("EDGE_TOKEN") != "":
		c.token = strings.TrimSpace(cl.getenv("EDGE_TOKEN"))
	default:
		c.token = conf.Token
	}
	return c, nil
}

// given reports whether the flag name was on the command line, so that
// "--max 0" is refused rather than read as "not given".
func given(fs *flag.FlagSet, name string) bool {
	found := false
	fs.Visit(func(f *flag.Flag) { found = found || f.Name == name })
	return found
}

// listFlag is a repeatable string flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

// mapFlag is a repeatable k=v flag.
type mapFlag struct {
	m          map[string]string
	emptyValue bool // whether "k=" is allowed
}

func (f *mapFlag) String() string {
	if f == nil {
		return ""
	}
	return wire.LabelsText(f.m)
}

func (f *mapFlag) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok || k == "" || (v == "" && !f.emptyValue) {
		return fmt.Errorf("%q is not KEY=VALUE", s)
	}
	if _, dup := f.m[k]; dup {
		return fmt.Errorf("%q given twice", k)
	}
	if f.m == nil {
		f.m = map[string]string{}
	}
	f.m[k] = v
	return nil
}

// targetFlags select devices for push, rollback and undeploy alike:
// --node IDs and --label K=V pairs (all of which must match).
type targetFlags struct {
	nodes  listFlag
	labels mapFlag
	allow  bool // --allow-unregistered
}

// register adds --node, --label and --allow-unregistered; verb says what
// is done to the devices ("roll back", "undeploy from").
func (t *targetFlags) register(fs *flag.FlagSet, verb string) {
	fs.Var(&t.nodes, "node", "device `ID` to "+verb+" (repeatable)")
	fs.Var(&t.labels, "label", verb+" devices carrying label `K=V` (repeatable; all must match)")
	fs.BoolVar(&t.allow, "allow-unregistered", false, "let --node name devices that never registered (set up targets before the boards exist)")
}

// check refuses no target and malformed device ids.
func (t *targetFlags) check(cmd string) error {
	if len(t.nodes) == 0 && len(t.labels.m) == 0 {
		return usagef(cmd, "%s: give at least one --node ID or --label K=V: no device is selected otherwise", cmd)
	}
	for _, n := range t.nodes {
		if err := wire.ValidateDeviceID(n); err != nil {
			return usagef(cmd, "%s: --node: %v", cmd, err)
		}
	}
	return nil
}

func (t *targetFlags) targets() wire.Targets {
	return wire.Targets{Nodes: t.nodes, Labels: t.labels.m}
}
