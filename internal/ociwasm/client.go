package ociwasm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/edgeplane/edge/internal/secretfile"
	"oras.land/oras-go/v2/errdef"
	"oras.land/oras-go/v2/registry/remote"
	"oras.land/oras-go/v2/registry/remote/auth"
	"oras.land/oras-go/v2/registry/remote/credentials"
	"oras.land/oras-go/v2/registry/remote/errcode"
	"oras.land/oras-go/v2/registry/remote/retry"
)

// Errors callers tell apart with errors.Is.
var (
	// ErrNotFound: the registry has no such tag, manifest or blob.
	ErrNotFound = errors.New("not found in the registry")
	// ErrMediaType: the artifact is not a Wasm module in the layout this
	// package reads (see the package doc).
	ErrMediaType = errors.New("not a Wasm module artifact")
	// ErrDigest: the registry served content that does not match the
	// digest it was asked for, or a layer other than the signed one.
	ErrDigest = errors.New("registry content does not match its digest")
	// ErrTooLarge: the artifact is over the size limit.
	ErrTooLarge = errors.New("artifact too large")
	// ErrUnreachable: the registry could not be reached or did not answer.
	ErrUnreachable = errors.New("registry unreachable")
	// ErrAuth: the registry refused the credentials (or wants some).
	ErrAuth = errors.New("registry refused access")
	// ErrNotAllowed: the registry is not in Options.Allow.
	ErrNotAllowed = errors.New("registry not allowed")
)

// Options configure a Client. The zero value speaks HTTPS anonymously.
type Options struct {
	// ConfigFile is a Docker config.json (auths, credsStore,
	// credHelpers) to take credentials from; "" reads none. A file that
	// does not exist holds no credentials.
	ConfigFile string
	// Username and Password (basic, or the user and token the registry's
	// token service takes), or Token (a registry access token sent as
	// "Authorization: Bearer"), are used for every registry when set,
	// before ConfigFile.
	Username, Password, Token string
	// PlainHTTP lists registries (host or host:port) spoken to over plain
	// HTTP besides loopback ones.
	PlainHTTP []string
	// Allow, when not empty, lists the only registries (host or
	// host:port) the client talks to.
	Allow []string
	// UserAgent is sent with every request.
	UserAgent string
	// Transport carries the requests (tests); nil: a clone of
	// http.DefaultTransport with connect and header timeouts.
	Transport http.RoundTripper
}

// Client reads and writes Wasm artifacts. It is safe for concurrent use.
type Client struct {
	opts  Options
	creds credentials.Store
	http  *auth.Client
}

// NewClient returns a client for opts; it reads no file until a request
// needs credentials.
func NewClient(opts Options) (*Client, error) {
	c := &Client{opts: opts}
	if opts.ConfigFile != "" {
		if err := checkConfigFile(opts.ConfigFile); err != nil {
			return nil, fmt.Errorf("registry credentials: %w", err)
		}
		st, err := credentials.NewStore(opts.ConfigFile, credentials.StoreOptions{})
		if err != nil {
			return nil, fmt.Errorf("registry credentials %s: %w", opts.ConfigFile, err)
		}
		c.creds = st
	}
	tr := opts.Transport
	if tr == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.DialContext = (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext
		t.TLSHandshakeTimeout = 10 * time.Second
		t.ResponseHeaderTimeout = 30 * time.Second
		tr = t
	}
	ua := opts.UserAgent
	if ua == "" {
		ua = "edgeplane"
	}
	c.http = &auth.Client{
		Client:     &http.Client{Transport: retry.NewTransport(tr)},
		Header:     http.Header{"User-Agent": {ua}},
		Cache:      auth.NewCache(),
		Credential: c.credential,
	}
	return c, nil
}

// credential answers a registry's challenge: the explicit credentials,
// else the config file's entry for the host, else none (anonymous).
func (c *Client) credential(ctx context.Context, host string) (auth.Credential, error) {
	switch {
	case c.opts.Token != "":
		return auth.Credential{AccessToken: c.opts.Token}, nil
	case c.opts.Username != "" || c.opts.Password != "":
		return auth.Credential{Username: c.opts.Username, Password: c.opts.Password}, nil
	case c.creds != nil:
		cred, err := credentials.Credential(c.creds)(ctx, host)
		if err != nil {
			return auth.EmptyCredential, fmt.Errorf("registry credentials for %s from %s: %w", host, c.opts.ConfigFile, err)
		}
		return cred, nil
	}
	return auth.EmptyCredential, nil
}

// plainHTTP reports whether registry (host[:port]) is spoken to over
// plain HTTP.
func (c *Client) plainHTTP(registry string) bool {
	return loopback(registry) || listed(c.opts.PlainHTTP, registry)
}

// listed reports whether registry (host[:port]) is in list, by host:port
// or by host alone.
func listed(list []string, registry string) bool {
	host := registry
	if h, _, err := net.SplitHostPort(registry); err == nil {
		host = h
	}
	for _, p := range list {
		if strings.EqualFold(p, registry) || strings.EqualFold(p, host) {
			return true
		}
	}
	return false
}

// repository returns the remote repository of ref.
func (c *Client) repository(ref Reference) (*remote.Repository, error) {
	if len(c.opts.Allow) > 0 && !listed(c.opts.Allow, ref.Registry) {
		return nil, fmt.Errorf("%s: %w: %s is not one of %s", ref, ErrNotAllowed, ref.Registry, strings.Join(c.opts.Allow, ", "))
	}
	repo, err := remote.NewRepository(ref.Registry + "/" + ref.Repository)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrReference, err)
	}
	repo.Client = c.http
	repo.PlainHTTP = c.plainHTTP(ref.Registry)
	// The manifest is a few hundred bytes; this bounds what a hostile
	// registry can make us read before it is checked.
	repo.ManifestMediaTypes = []string{manifestMediaType}
	return repo, nil
}

// classify wraps err, an error of oras-go or the transport, in the error
// of this package that says what happened.
func classify(ref Reference, what string, err error) error {
	var ec *errcode.ErrorResponse
	var ne net.Error
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrNotFound), errors.Is(err, ErrMediaType), errors.Is(err, ErrDigest), errors.Is(err, ErrTooLarge):
		return fmt.Errorf("%s %s: %w", what, ref, err)
	case errors.Is(err, errdef.ErrNotFound):
		return fmt.Errorf("%s %s: %w (%v)", what, ref, ErrNotFound, err)
	case errors.Is(err, errdef.ErrSizeExceedsLimit):
		return fmt.Errorf("%s %s: %w: %v", what, ref, ErrTooLarge, err)
	case errors.As(err, &ec) && ec.StatusCode == http.StatusNotFound:
		return fmt.Errorf("%s %s: %w (%v)", what, ref, ErrNotFound, err)
	case errors.Is(err, auth.ErrBasicCredentialNotFound):
		return fmt.Errorf("%s %s: %w: the registry wants a username and password and none was given for %s", what, ref, ErrAuth, ref.Registry)
	case errors.As(err, &ec) && (ec.StatusCode == http.StatusUnauthorized || ec.StatusCode == http.StatusForbidden):
		return fmt.Errorf("%s %s: %w: %v (check the credentials: docker config.json, or the username/password/token given)", what, ref, ErrAuth, err)
	case errors.As(err, &ec) && ec.StatusCode >= 500:
		return fmt.Errorf("%s %s: %w: %v", what, ref, ErrUnreachable, err)
	case errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Errorf("%s %s: %w: connection refused at %s (is the registry running?)", what, ref, ErrUnreachable, ref.Registry)
	case errors.As(err, &ne):
		return fmt.Errorf("%s %s: %w: %v", what, ref, ErrUnreachable, err)
	}
	return fmt.Errorf("%s %s: %w", what, ref, err)
}

// checkConfigFile holds a Docker config.json that stores credentials itself
// (auths with auth, password or a token; docker login writes it 0600) to
// the rule of secret files. One that names credential helpers only, or is
// missing, is not a secret.
func checkConfigFile(path string) error {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var cfg struct {
		Auths map[string]struct {
			Auth          string `json:"auth"`
			Password      string `json:"password"`
			IdentityToken string `json:"identitytoken"`
			RegistryToken string `json:"registrytoken"`
		} `json:"auths"`
	}
	if json.Unmarshal(b, &cfg) != nil {
		return nil // the credential store says what is wrong with it
	}
	for _, a := range cfg.Auths {
		if a.Auth != "" || a.Password != "" || a.IdentityToken != "" || a.RegistryToken != "" {
			return secretfile.Check(path)
		}
	}
	return nil
}
