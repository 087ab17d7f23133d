package edgectl

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/edgeplane/edge/internal/secretfile"
	"github.com/edgeplane/edge/internal/semver"

	"github.com/edgeplane/edge/wire"
)

// pushOptions are push's flags.
type pushOptions struct {
	api         apiFlags
	key         string
	version     string
	name        string
	db          string
	port        int
	probe       string
	expires     time.Duration
	httpAllow   listFlag
	kv          bool
	kvKeys      int64
	kvBytes     int64
	calls       listFlag
	config      mapFlag
	memoryPages uint
	deadline    time.Duration
	bodyBytes   int64
	pool        int
	wait        time.Duration

	targets     targetFlags // --node, --label, --allow-unregistered
	stopUnknown bool
	staged      stagedOptions
	msg         messagingOptions
	registry    registryFlags
}

func runPush(ctx context.Context, cl *cli, args []string) error {
	const cmd = "push"
	o := pushOptions{config: mapFlag{emptyValue: true}}
	fs := flagSet(cmd)
	o.api.register(fs)
	fs.StringVar(&o.key, "key", "", "private key `FILE` written by edgectl keygen (required)")
	fs.StringVar(&o.version, "version", "", "semantic `version` of the module, e.g. 1.4.0 (required)")
	fs.StringVar(&o.name, "name", "", "module `name` (default: the file's base name without .wasm)")
	o.targets.register(fs, "push to")
	fs.StringVar(&o.db, "db", "", "database binding: sqlite, or the `NAME` of a database in the agent's config")
	fs.IntVar(&o.port, "port", 0, "TCP `port` (1-65535) the agent serves the module on (required: each module has a port of its own)")
	fs.StringVar(&o.probe, "probe", "", "health probe `PATH` checked before traffic switches (default /)")
	fs.DurationVar(&o.expires, "expires", 720*time.Hour, "signature validity `DURATION`")
	fs.Var(&o.httpAllow, "http-allow", "`HOST` or HOST:PORT the module may fetch from (repeatable)")
	fs.BoolVar(&o.kv, "kv", false, "grant the module its key-value store (kept on each device across versions)")
	fs.Int64Var(&o.kvKeys, "kv-keys", 0, "key-value quota: at most `N` keys (0: agent default, 10000); implies --kv")
	fs.Int64Var(&o.kvBytes, "kv-bytes", 0, "key-value quota: at most `N` bytes of keys and values (0: agent default, 16 MiB); implies --kv")
	fs.Var(&o.calls, "call", "`MODULE` on the same device the module may call (repeatable)")
	fs.Var(&o.config, "config", "configuration value `K=V` for the module (repeatable)")
	fs.UintVar(&o.memoryPages, "memory-pages", 0, "max 64 KiB memory `pages` per instance (0: agent default)")
	fs.DurationVar(&o.deadline, "deadline", 0, "per-request `DURATION` limit (0: agent default)")
	fs.Int64Var(&o.bodyBytes, "body-bytes", 0, "max request body `bytes` (0: agent default)")
	fs.IntVar(&o.pool, "pool", 0, "warm instances `N` (0: agent default)")
	fs.DurationVar(&o.wait, "wait", 15*time.Minute, "wait up to `DURATION` for every device to finish (0: do not wait); the controller ends\n"+
		"every device's part by the deployment's deadline (edge-control --deploy-timeout, default 10m)")
	fs.BoolVar(&o.stopUnknown, "stop-unknown", false, "push even to devices that run modules their desired state does not hold (a device removed and\n"+
		"registered again), stopping those modules; without it such a push is refused, naming them")
	o.staged.register(fs)
	o.msg.register(fs)
	o.registry.register(fs)
	pos, err := cl.parse(fs, args)
	if err != nil {
		return err
	}
	if err := wantArgs(cmd, pos, "FILE.wasm|oci://REGISTRY/REPOSITORY:TAG"); err != nil {
		return err
	}
	c, err := o.api.client(cl, cmd)
	if err != nil {
		return err
	}
	if err := o.check(); err != nil {
		return err
	}
	key, err := readPrivateKey(o.key)
	if err != nil {
		return err
	}
	src, err := o.registry.load(ctx, cl, cmd, pos[0])
	if err != nil {
		return err
	}
	m := o.manifest(src.name, src.module, time.Now())
	if err := o.msg.apply(m); err != nil {
		return err
	}
	plan, err := c.plan(ctx, wire.PlanRequest{Module: m.Name, Targets: m.Targets, AllowUnregistered: o.targets.allow})
	if err != nil {
		return fmt.Errorf("push %s %s: %w", m.Name, m.Version, err)
	}
	m.Epoch = pushEpoch(cl.stderr, m, plan)
	m.Schema = m.LowestSchema()
	env, err := signAndCheck(m, key)
	if err != nil {
		return err
	}
	fmt.Fprintf(cl.stderr, "signed %s %s (sha256 %.12s, %d bytes) with key %s, valid until %s\n",
		m.Name, m.Version, m.SHA256, m.Size, m.KeyID, m.Expires.Format(time.RFC3339))
	if o.staged.waves != "" {
		return pushStaged(ctx, cl, c, o, m, env, src, plan, key)
	}
	return push(ctx, cl, c, o, m, env, src)
}

// check validates the flags that do not need the module.
func (o *pushOptions) check() error {
	const cmd = "push"
	switch {
	case o.key == "":
		return usagef(cmd, "push: --key FILE is required")
	case o.version == "":
		return usagef(cmd, "push: --version V is required")
	case o.expires <= 0:
		return usagef(cmd, "push: --expires must be positive")
	case o.wait < 0 || o.deadline < 0 || o.bodyBytes < 0 || o.pool < 0 || o.kvKeys < 0 || o.kvBytes < 0:
		return usagef(cmd, "push: --wait, --deadline, --body-bytes, --pool, --kv-keys and --kv-bytes must not be negative")
	case o.deadline > 0 && o.deadline < time.Millisecond:
		return usagef(cmd, "push: --deadline %v is under a millisecond", o.deadline)
	case o.memoryPages > 65536:
		return usagef(cmd, "push: --memory-pages %d exceeds 65536 (4 GiB)", o.memoryPages)
	case o.port == 0:
		return usagef(cmd, "push: --port P is required: each module is served on a port of its own")
	case o.port < 0 || o.port > 65535:
		return usagef(cmd, "push: --port %d: want 1-65535", o.port)
	}
	if err := o.staged.check(); err != nil {
		return err
	}
	if err := o.targets.check(cmd); err != nil {
		return err
	}
	for _, c := range o.calls {
		if err := wire.ValidateModuleName(c); err != nil {
			return usagef(cmd, "push: --call: %v", err)
		}
	}
	for _, h := range o.httpAllow {
		if h == "" || strings.ContainsAny(h, "/ ") {
			return usagef(cmd, "push: --http-allow %q: want HOST or HOST:PORT, without scheme or path", h)
		}
	}
	return nil
}

// manifest builds the manifest of module, named --name or else
// defaultName.
func (o *pushOptions) manifest(defaultName string, module []byte, now time.Time) *wire.Manifest {
	name := o.name
	if name == "" {
		name = defaultName
	}
	sum := sha256.Sum256(module)
	created := now.UTC().Truncate(time.Second)
	m := &wire.Manifest{
		Schema:  wire.ManifestSchema,
		Name:    name,
		Version: o.version,
		SHA256:  hex.EncodeToString(sum[:]),
		Size:    int64(len(module)),
		Created: created,
		Expires: created.Add(o.expires),
		Targets: o.targets.targets(),
		Port:    o.port,
		Config:  o.config.m,
	}
	m.Bindings.DB = o.db
	m.Limits = wire.Limits{
		MemoryPages: uint32(o.memoryPages),
		DeadlineMS:  o.deadline.Milliseconds(),
		BodyBytes:   o.bodyBytes,
		Pool:        o.pool,
	}
	m.Capabilities.HTTPAllow = o.httpAllow
	if o.kv || o.kvKeys > 0 || o.kvBytes > 0 {
		m.Capabilities.KV = &wire.KVGrant{MaxKeys: o.kvKeys, MaxBytes: o.kvBytes}
	}
	m.Capabilities.Call = o.calls
	m.Schema = m.LowestSchema()
	m.Probe.Path = o.probe
	return m
}

// wasmHeader is the magic and version of a core WebAssembly module.
var wasmHeader = []byte("\x00asm\x01\x00\x00\x00")

// readModule reads a core Wasm module, refusing anything else before it is
// signed.
func readModule(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read module: %w", err)
	}
	defer f.Close()
	module, err := io.ReadAll(io.LimitReader(f, wire.MaxModuleSize+1))
	if err != nil {
		return nil, fmt.Errorf("read module %s: %w", path, err)
	}
	return module, checkModule(path, module)
}

// checkModule refuses anything but a core Wasm module within the size
// limit; path names where it came from.
func checkModule(path string, module []byte) error {
	switch {
	case len(module) > wire.MaxModuleSize:
		return fmt.Errorf("module %s: larger than the %d MiB limit", path, wire.MaxModuleSize>>20)
	case len(module) < len(wasmHeader) || !bytes.HasPrefix(module, wasmHeader[:4]):
		return fmt.Errorf("module %s: not a WebAssembly module (no \\0asm magic)", path)
	case !bytes.HasPrefix(module, wasmHeader):
		return fmt.Errorf("module %s: WebAssembly binary version %x is not a core module (version 1); components are not supported", path, module[4:8])
	}
	return nil
}

// readPrivateKey reads a key file written by keygen: a secret file, refused
// when other users may read it (internal/secretfile).
func readPrivateKey(path string) (ed25519.PrivateKey, error) {
	if err := notPublicKey(path); err != nil {
		return nil, err
	}
	data, err := secretfile.Read(path)
	if err != nil {
		return nil, fmt.Errorf("read key: %w", err)
	}
	key, err := wire.ParsePrivateKey(data)
	if err != nil {
		return nil, fmt.Errorf("key %s: %w", path, err)
	}
	return key, nil
}

// notPublicKey refuses a public key given as --key: the agents' key
// (edge.pub, readable by all) failed the secret file's mode check, which
// sent the operator to chmod a file that was never the right one.
func notPublicKey(path string) error {
	if keyKind(path) != PublicKeyFile {
		return nil
	}
	priv := filepath.Join(filepath.Dir(path), PrivateKeyFile)
	hint := "the private key edgectl keygen wrote beside it, " + priv
	if _, err := os.Stat(priv); err != nil {
		hint = "the private key edgectl keygen wrote (" + PrivateKeyFile + " in its --out folder)"
	}
	return fmt.Errorf("key %s is a public key (%s, for the agents' --trust); --key wants the private signing key: %s",
		path, PublicKeyFile, hint)
}

// keyKind reads path, as anyone may before its mode is checked, and names
// the key file of edgectl keygen it holds (PublicKeyFile, PrivateKeyFile),
// or "" for anything else or a file that cannot be read.
func keyKind(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, secretfile.MaxSize))
	if err != nil {
		return ""
	}
	if _, err := wire.ParsePublicKey(b); err == nil {
		return PublicKeyFile
	}
	if _, err := wire.ParsePrivateKey(b); err == nil {
		return PrivateKeyFile
	}
	return ""
}

// signAndCheck signs m and verifies the envelope with the agents' own code
// and the key's public half, so that edgectl never sends what an agent would
// reject for a reason known here. Manifest errors come from flags.
func signAndCheck(m *wire.Manifest, key ed25519.PrivateKey) (*wire.Envelope, error) {
	env, err := wire.Sign(m, key)
	if err != nil {
		return nil, usagef("push", "push: %v", err)
	}
	pub := key.Public().(ed25519.PublicKey)
	got, err := wire.NewKeyring(pub).Verify(env, m.Created)
	if err != nil {
		return nil, fmt.Errorf("push: own signature does not verify: %w", err)
	}
	if got.SHA256 != m.SHA256 || got.Size != m.Size {
		return nil, fmt.Errorf("push: verified manifest differs from the signed one")
	}
	return env, nil
}

// pushEpoch is the epoch a push is signed at: the plan's, unless the
// version is older than one a targeted device serves. A push never goes
// back (edgectl rollback does): the plan's epoch is above the devices'
// after a staged rollout (it counts the rollback statements the rollout
// signed in advance, so that those expire once unused), and a push of an
// older version signed at it would be installed as a rollback. Such a push
// is signed at the highest epoch the targeted devices are meant to run
// instead, where they refuse it, and edgectl says so. Older than what
// serves, not than the desired entry: the agents place a push against the
// version they committed, and after a failed push the desired entry names
// a version that never served.
func pushEpoch(stderr io.Writer, m *wire.Manifest, plan *wire.Plan) uint64 {
	var older []string
	var epoch uint64
	newer := ""
	for _, d := range plan.Devices {
		if d.Current != nil {
			epoch = max(epoch, d.Current.Epoch)
		}
		if d.Serving == "" {
			continue
		}
		if c, err := semver.Compare(m.Version, d.Serving); err == nil && c < 0 {
			older, newer = append(older, d.ID), d.Serving
		}
	}
	if len(older) == 0 {
		return plan.Epoch
	}
	fmt.Fprintf(stderr, "warning: %s %s is older than what %s serves (%s): a push never goes back, "+
		"the devices will refuse it; edgectl rollback %s --to %s signs a rollback\n",
		m.Name, m.Version, strings.Join(older, ", "), newer, m.Name, m.Version)
	return epoch
}
