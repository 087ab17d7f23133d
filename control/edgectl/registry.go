package edgectl

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/edgeplane/edge/internal/buildinfo"
	"github.com/edgeplane/edge/internal/ociwasm"
	"github.com/edgeplane/edge/wire"
)

// registryFlags are the flags of the commands that talk to an OCI
// registry (publish, push oci://...).
type registryFlags struct {
	config    string
	plainHTTP bool
}

func (r *registryFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&r.config, "registry-config", "", "Docker config.json `FILE` with registry credentials, as docker login writes it (default:\n"+
		"$DOCKER_CONFIG/config.json, else ~/.docker/config.json); EDGE_REGISTRY_USER and EDGE_REGISTRY_PASSWORD,\n"+
		"or EDGE_REGISTRY_TOKEN (a bearer token), win over it")
	fs.BoolVar(&r.plainHTTP, "plain-http", false, "speak plain HTTP to a registry that is not on loopback (loopback registries always are)")
}

// client returns a registry client for ref's registry.
func (r *registryFlags) client(cl *cli, cmd string, ref ociwasm.Reference) (*ociwasm.Client, error) {
	cfg := r.config
	if cfg != "" {
		if _, err := os.Stat(cfg); err != nil {
			return nil, usagef(cmd, "%s: --registry-config: %v", cmd, err)
		}
	} else {
		cfg = dockerConfig(cl.getenv)
	}
	o := ociwasm.Options{
		ConfigFile: cfg,
		Username:   cl.getenv("EDGE_REGISTRY_USER"),
		Password:   cl.getenv("EDGE_REGISTRY_PASSWORD"),
		Token:      cl.getenv("EDGE_REGISTRY_TOKEN"),
		UserAgent:  "edgectl/" + buildinfo.Version,
	}
	if r.plainHTTP {
		o.PlainHTTP = []string{ref.Registry}
	}
	c, err := ociwasm.NewClient(o)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", cmd, err)
	}
	return c, nil
}

// dockerConfig is where docker login writes credentials; "" when there is
// no home folder.
func dockerConfig(getenv func(string) string) string {
	if d := getenv("DOCKER_CONFIG"); d != "" {
		return filepath.Join(d, "config.json")
	}
	home := getenv("HOME")
	if home == "" {
		return ""
	}
	return filepath.Join(home, ".docker", "config.json")
}

// moduleSource is the module a push signs and where the controller gets
// its bytes: uploaded by edgectl, or pulled by the controller from the
// registry artifact edgectl resolved and verified.
type moduleSource struct {
	name     string // default module name
	module   []byte
	artifact *ociwasm.Artifact // nil: a file, uploaded
}

// load reads the module arg names: a file, or an oci:// reference. A
// reference is resolved to its manifest's digest once, here; the module
// is then fetched by digest and checked against it, so the operator signs
// the bytes edgectl verified, and the controller pulls that digest.
func (r *registryFlags) load(ctx context.Context, cl *cli, cmd, arg string) (*moduleSource, error) {
	if !ociwasm.IsReference(arg) {
		module, err := readModule(arg)
		if err != nil {
			return nil, err
		}
		return &moduleSource{name: strings.TrimSuffix(filepath.Base(arg), ".wasm"), module: module}, nil
	}
	ref, err := ociwasm.ParseReference(arg)
	if err != nil {
		return nil, usagef(cmd, "%s: %v", cmd, err)
	}
	rc, err := r.client(cl, cmd, ref)
	if err != nil {
		return nil, err
	}
	a, err := rc.Resolve(ctx, ref)
	if err != nil {
		return nil, err
	}
	module, err := rc.ReadModule(ctx, a)
	if err != nil {
		return nil, err
	}
	if err := checkModule(a.Ref.String(), module); err != nil {
		return nil, err
	}
	fmt.Fprintf(cl.stderr, "resolved %s to %s: module sha256 %.12s, %d bytes, read and checked\n", ref, a.Manifest, a.Module.SHA256, a.Module.Size)
	return &moduleSource{name: ref.Base(), module: module, artifact: &a}, nil
}

// deliver gets the module's bytes to the controller: an upload, or a pull
// from the registry by the controller, which checks them against the
// signed sha256 (m.SHA256) before storing them.
func (s *moduleSource) deliver(ctx context.Context, cl *cli, c *client, m *wire.Manifest) error {
	if s.artifact == nil {
		if err := c.putBlob(ctx, m.SHA256, s.module, cl.stderr); err != nil {
			return fmt.Errorf("upload %s: %w", m.Name, err)
		}
		fmt.Fprintf(cl.stderr, "uploaded %d bytes to %s\n", len(s.module), c.base)
		return nil
	}
	start := time.Now()
	ref, err := c.pullBlob(ctx, m.SHA256, wire.BlobPullRequest{Source: s.artifact.Ref.String(), Size: m.Size})
	var ae *APIError
	if errors.As(err, &ae) && ae.Status == http.StatusNotFound {
		return fmt.Errorf("controller pull of %s: %w (this controller does not pull from registries: update it, or push the file)", s.artifact.Ref, err)
	}
	if err != nil {
		return fmt.Errorf("controller pull of %s: %w", s.artifact.Ref, err)
	}
	fmt.Fprintf(cl.stderr, "the controller has the %d bytes of %s (sha256 %.12s, checked by the controller; %s)\n",
		ref.Size, s.artifact.Ref, ref.SHA256, time.Since(start).Round(time.Millisecond))
	return nil
}

// Published is publish's --json output.
type Published struct {
	Reference string `json:"reference"` // pinned: oci://REGISTRY/REPOSITORY@sha256:...
	Tag       string `json:"tag"`
	Manifest  string `json:"manifest"` // sha256:...
	SHA256    string `json:"sha256"`   // the module's: what a push signs
	Size      int64  `json:"size"`
}

func runPublish(ctx context.Context, cl *cli, args []string) error {
	const cmd = "publish"
	var rf registryFlags
	var asJSON bool
	fs := flagSet(cmd)
	rf.register(fs)
	fs.BoolVar(&asJSON, "json", false, "print stable JSON on stdout")
	pos, err := cl.parse(fs, args)
	if err != nil {
		return err
	}
	if err := wantArgs(cmd, pos, "FILE.wasm", "oci://REGISTRY/REPOSITORY:TAG"); err != nil {
		return err
	}
	ref, err := ociwasm.ParseReference(pos[1])
	if err != nil {
		return usagef(cmd, "%s: %v", cmd, err)
	}
	if ref.Tag == "" {
		return usagef(cmd, "%s: publish to a tag (REPOSITORY:TAG); the digest is known once it is published", cmd)
	}
	module, err := readModule(pos[0])
	if err != nil {
		return err
	}
	rc, err := rf.client(cl, cmd, ref)
	if err != nil {
		return err
	}
	a, err := rc.Publish(ctx, ref, module, filepath.Base(pos[0]), time.Now())
	if err != nil {
		return err
	}
	fmt.Fprintf(cl.stderr, "published %s (%d bytes) to %s\n", pos[0], len(module), ref)
	if asJSON {
		return writeJSON(cl.stdout, Published{Reference: a.Ref.String(), Tag: ref.Tag, Manifest: a.Manifest, SHA256: a.Module.SHA256, Size: a.Module.Size})
	}
	fmt.Fprintln(cl.stdout, a.Ref)
	return nil
}

func (c *client) pullBlob(ctx context.Context, sum string, req wire.BlobPullRequest) (*wire.BlobRef, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return nil, fmt.Errorf("encode pull request: %w", err)
	}
	var ref wire.BlobRef
	if err := c.do(ctx, uploadTimeout, http.MethodPost, "/blobs/"+sum+"/pull", "application/json", body, &ref); err != nil {
		return nil, err
	}
	if ref.SHA256 != sum {
		return nil, errors.New("the controller answered with another blob than the one asked for")
	}
	return &ref, nil
}
