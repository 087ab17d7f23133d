package edgectl

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/edgeplane/edge/internal/atomicfile"
	"github.com/edgeplane/edge/wire"
)

// Key file names written by keygen.
const (
	PrivateKeyFile = "edge.key"
	PublicKeyFile  = "edge.pub"
)

// keygenResult is keygen's --json output.
type keygenResult struct {
	KeyID      string `json:"key_id"`
	PrivateKey string `json:"private_key"`
	PublicKey  string `json:"public_key"`
}

func runKeygen(ctx context.Context, cl *cli, args []string) error {
	const cmd = "keygen"
	fset := flagSet(cmd)
	out := fset.String("out", "", "write "+PrivateKeyFile+" and "+PublicKeyFile+" into `DIR` (created with mode 0700)")
	force := fset.Bool("force", false, "replace an existing key pair")
	jsonOut := fset.Bool("json", false, "print {key_id, private_key, public_key} as JSON on stdout")
	pos, err := cl.parse(fset, args)
	if err != nil {
		return err
	}
	if err := wantArgs(cmd, pos); err != nil {
		return err
	}
	if *out == "" {
		return usagef(cmd, "keygen: --out DIR is required")
	}
	res, err := keygen(*out, *force)
	if err != nil {
		return err
	}
	if *jsonOut {
		return writeJSON(cl.stdout, res)
	}
	fmt.Fprintln(cl.stdout, res.KeyID)
	fmt.Fprintf(cl.stderr, "wrote %s (private, mode 0600: keep it on this machine)\nwrote %s (install it on every agent)\n", res.PrivateKey, res.PublicKey)
	return nil
}

func keygen(dir string, force bool) (*keygenResult, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("keygen: %w", err)
	}
	keyPath := filepath.Join(dir, PrivateKeyFile)
	pubPath := filepath.Join(dir, PublicKeyFile)
	// A keygen killed mid-write leaves a temp file (mode 0600) beside the
	// key; remove such leftovers of these two files only (the folder may
	// hold the operator's other files).
	for _, p := range []string{keyPath, pubPath} {
		if _, err := atomicfile.CleanFor(p); err != nil {
			return nil, fmt.Errorf("keygen: %w", err)
		}
	}
	if !force {
		for _, p := range []string{keyPath, pubPath} {
			if _, err := os.Lstat(p); err == nil {
				return nil, fmt.Errorf("keygen: %s exists: refusing to replace a signing key (agents trust it); use --force", p)
			} else if !errors.Is(err, fs.ErrNotExist) {
				return nil, fmt.Errorf("keygen: %w", err)
			}
		}
	}
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("keygen: %w", err)
	}
	privPEM, err := wire.MarshalPrivateKey(priv)
	if err != nil {
		return nil, fmt.Errorf("keygen: %w", err)
	}
	pubPEM, err := wire.MarshalPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("keygen: %w", err)
	}
	if err := atomicfile.Write(keyPath, privPEM, 0o600); err != nil {
		return nil, fmt.Errorf("keygen: %w", err)
	}
	if err := atomicfile.Write(pubPath, pubPEM, 0o644); err != nil {
		return nil, fmt.Errorf("keygen: %w", err)
	}
	return &keygenResult{KeyID: wire.KeyID(pub), PrivateKey: keyPath, PublicKey: pubPath}, nil
}

// writeJSON writes v as indented JSON and a newline.
func writeJSON(w io.Writer, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encode JSON: %w", err)
	}
	_, err = w.Write(append(b, '\n'))
	return err
}
