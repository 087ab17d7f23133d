package edgectl

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/edgeplane/edge/internal/secretfile"
)

// The operator's token and controller address, each taken from the first
// of:
//
//	token    --token-file FILE   $EDGE_TOKEN     config "token"
//	address  --control URL       $EDGE_CONTROL   config "control"   DefaultControl
//	CA       --ca-file FILE      $EDGE_CA_FILE   config "ca_file"   the system's CAs
//
// The config file is $EDGECTL_CONFIG, else $XDG_CONFIG_HOME/edgectl/config.json,
// else ~/.config/edgectl/config.json: {"control": URL, "token": TOKEN,
// "ca_file": FILE}. A file EDGECTL_CONFIG names must exist; the default
// one may be missing. A
// file that holds a token and that others may read (mode beyond 0600) is
// refused, as ssh refuses such a key. There is no --token flag: a command
// line is visible to every user of the machine (ps).

// config is edgectl's config file.
type config struct {
	Control string `json:"control,omitempty"`
	Token   string `json:"token,omitempty"`
	CAFile  string `json:"ca_file,omitempty"` // the controller's CA (PEM), for https://
}

// configPath is where edgectl looks for its config file.
func (cl *cli) configPath() string {
	if p := cl.getenv("EDGECTL_CONFIG"); p != "" {
		return p
	}
	return cl.defaultConfigPath()
}

// defaultConfigPath is the config file's path without EDGECTL_CONFIG.
func (cl *cli) defaultConfigPath() string {
	if d := cl.getenv("XDG_CONFIG_HOME"); d != "" {
		return filepath.Join(d, "edgectl", "config.json")
	}
	if h := cl.getenv("HOME"); h != "" {
		return filepath.Join(h, ".config", "edgectl", "config.json")
	}
	return ""
}

// loadConfig reads the config file; a missing file at the default path
// is an empty config, while one EDGECTL_CONFIG names is an error: the
// operator meant that file, and a typo must not silently fall back to
// the default controller without a token.
func (cl *cli) loadConfig() (config, string, error) {
	path := cl.configPath()
	if path == "" {
		return config{}, "", nil
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		if cl.getenv("EDGECTL_CONFIG") != "" {
			return config{}, path, fmt.Errorf("config file %s (EDGECTL_CONFIG) does not exist: fix the path, or unset EDGECTL_CONFIG to use %s",
				path, orNone(cl.defaultConfigPath()))
		}
		return config{}, path, nil
	}
	if err != nil {
		return config{}, path, fmt.Errorf("config file: %w", err)
	}
	var c config
	if strings.TrimSpace(string(b)) == "" {
		return c, path, nil
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return config{}, path, fmt.Errorf("config file %s: want {\"control\": URL, \"token\": TOKEN}: %w", path, err)
	}
	if c.Token != "" {
		if err := secretfile.Check(path); err != nil {
			return config{}, path, fmt.Errorf("config file holds a token: %w", err)
		}
	}
	return c, path, nil
}

// readTokenFile reads a token from a secret file (--token-file, the
// controller's admin.token), trimmed of surrounding white space.
func readTokenFile(path string) (string, error) {
	if k := keyKind(path); k != "" {
		return "", fmt.Errorf("token file %s holds a signing key (%s of edgectl keygen), not an operator token: --token-file wants "+
			"a token file (the controller's admin.token, or edgectl token create --out FILE)", path, k)
	}
	b, err := secretfile.Read(path)
	if err != nil {
		return "", fmt.Errorf("token file: %w", err)
	}
	t := strings.TrimSpace(string(b))
	if t == "" || strings.ContainsAny(t, " \t\r\n") {
		return "", fmt.Errorf("token file %s: want one token", path)
	}
	return t, nil
}
