// Package release computes the version of a build from its git checkout
// and checks it against what the release formats accept. One string serves
// everywhere: the binaries' -X buildinfo.Version, the tarball names and the
// Debian packages' Version field, so what a package says it is and what its
// binary says it is cannot differ.
//
// The scheme (RATIONALE.md, "Release versions"):
//
//	checkout                         version
//	at tag v1.2.3, clean             1.2.3
//	at tag v1.2.3-rc1, clean         1.2.3~rc1
//	5 commits after v1.2.3           1.2.3+git20250314.093000.0123456789ab
//	at or after v1.2.3, dirty        1.2.3+git20250314.093000.0123456789ab.dirty
//	no release tag in the history    0.0.0~git20250314.093000.0123456789ab
//	not a git checkout               0.0.0~unknown
//
// "~" sorts before anything in dpkg's ordering and "+" after, so a release
// candidate precedes its release, a snapshot after a release follows it,
// and an untagged snapshot precedes every release; snapshots order by
// their commit's (UTC) time. Every version starts with a digit, uses only
// [0-9A-Za-z.+~] and has no hyphen (which dpkg would read as a Debian
// revision) and no underscore (the field separator of the file names).
package release

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// TagGlob selects the tags that name releases (git describe --match); other
// tags (v1.2, nightly, ...) are not releases and are ignored.
const TagGlob = "v[0-9]*.[0-9]*.[0-9]*"

// Unknown is the version of a build from a folder that is not a git
// checkout (an exported source tree).
const Unknown = "0.0.0~unknown"

// Git is what a checkout says about its HEAD.
type Git struct {
	// Describe is the output of
	// git describe --tags --long --match TagGlob HEAD
	// (TAG-N-gHASH), or "" when no release tag is in HEAD's history.
	Describe string
	Commit   string    // HEAD's hash (hex, SHA-1 or SHA-256)
	Time     time.Time // HEAD's committer time
	Dirty    bool      // tracked files differ from HEAD
}

// ErrTag is wrapped by the error for a tag that looks like a release tag
// (it matches TagGlob) but is not vMAJOR.MINOR.PATCH[-PRERELEASE].
var ErrTag = errors.New("not a release tag vMAJOR.MINOR.PATCH[-PRERELEASE]")

// ErrVersion is wrapped by Check's errors.
var ErrVersion = errors.New("invalid release version")

var (
	describeRE = regexp.MustCompile(`^(.+)-([0-9]+)-g([0-9a-f]+)$`)
	hexRE      = regexp.MustCompile(`^[0-9a-f]{7,64}$`)
	// A numeric field has no leading zero; pre-release identifiers are
	// alphanumeric, separated by dots (semver without hyphens inside).
	tagRE = regexp.MustCompile(`^v(0|[1-9][0-9]{0,8})\.(0|[1-9][0-9]{0,8})\.(0|[1-9][0-9]{0,8})(?:-([0-9A-Za-z]+(?:\.[0-9A-Za-z]+)*))?$`)
)

// hashLen is how much of the commit hash a snapshot version carries.
const hashLen = 12

// Version returns the release version of the checkout g describes.
func Version(g Git) (string, error) {
	commit := strings.ToLower(g.Commit)
	if !hexRE.MatchString(commit) {
		return "", fmt.Errorf("commit %q: want a hex commit hash", g.Commit)
	}
	if len(commit) > hashLen {
		commit = commit[:hashLen]
	}
	if g.Time.IsZero() {
		return "", errors.New("commit time missing")
	}
	snapshot := "git" + g.Time.UTC().Format("20060102.150405") + "." + commit
	if g.Dirty {
		snapshot += ".dirty"
	}
	if g.Describe == "" {
		return "0.0.0~" + snapshot, nil
	}
	m := describeRE.FindStringSubmatch(g.Describe)
	if m == nil {
		return "", fmt.Errorf("git describe %q: want TAG-N-gHASH (--long)", g.Describe)
	}
	base, err := tagVersion(m[1])
	if err != nil {
		return "", err
	}
	if m[2] == "0" && !g.Dirty {
		return base, nil
	}
	return base + "+" + snapshot, nil
}

// tagVersion maps a release tag to its version: v1.2.3 → 1.2.3,
// v1.2.3-rc.1 → 1.2.3~rc.1.
func tagVersion(tag string) (string, error) {
	m := tagRE.FindStringSubmatch(tag)
	if m == nil {
		return "", fmt.Errorf("tag %q: %w", tag, ErrTag)
	}
	v := m[1] + "." + m[2] + "." + m[3]
	if m[4] != "" {
		v += "~" + m[4]
	}
	return v, nil
}

var versionRE = regexp.MustCompile(`^[0-9][0-9A-Za-z.+~]*$`)

// Check reports whether v can name a release: a Debian upstream version
// without epoch or revision (starts with a digit; digits, letters, . + ~
// only), which is also a safe file-name part and -X value. Version's
// results always pass; Check is for versions given by hand (make dist
// VERSION=...).
func Check(v string) error {
	switch {
	case v == "":
		return fmt.Errorf("%w: empty", ErrVersion)
	case len(v) > 128:
		return fmt.Errorf("%w: %d characters (at most 128)", ErrVersion, len(v))
	case v[0] < '0' || v[0] > '9':
		return fmt.Errorf("%w %q: must start with a digit (dpkg refuses anything else)", ErrVersion, v)
	case !versionRE.MatchString(v):
		return fmt.Errorf("%w %q: only digits, letters and . + ~ (no hyphen: dpkg would read a Debian revision)", ErrVersion, v)
	}
	return nil
}

// ReadGit asks git about the checkout in dir. It returns an error when dir
// is not a git checkout or git is missing.
func ReadGit(ctx context.Context, dir string) (Git, error) {
	gitOut := func(args ...string) (string, error) {
		cmd := exec.CommandContext(ctx, "git", args...)
		cmd.Dir = dir
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			return "", fmt.Errorf("git %s: %w: %s", strings.Join(args, " "), err, bytes.TrimSpace(stderr.Bytes()))
		}
		return strings.TrimSpace(string(out)), nil
	}
	var g Git
	var err error
	if g.Commit, err = gitOut("rev-parse", "--verify", "HEAD"); err != nil {
		return Git{}, err
	}
	ct, err := gitOut("log", "-1", "--format=%ct", "HEAD")
	if err != nil {
		return Git{}, err
	}
	sec, err := strconv.ParseInt(ct, 10, 64)
	if err != nil {
		return Git{}, fmt.Errorf("commit time %q: %w", ct, err)
	}
	g.Time = time.Unix(sec, 0).UTC()
	status, err := gitOut("status", "--porcelain", "--untracked-files=no")
	if err != nil {
		return Git{}, err
	}
	g.Dirty = status != ""
	// describe fails when no tag matches: that is an untagged checkout,
	// since HEAD itself was read above.
	g.Describe, _ = gitOut("describe", "--tags", "--long", "--abbrev=12", "--match", TagGlob, "HEAD")
	return g, nil
}

// FromGit returns the version of the checkout in dir, Unknown (with the
// reason as a warning) when dir is not a git checkout, and an error when
// it is one whose nearest release tag is malformed.
func FromGit(ctx context.Context, dir string) (version string, warning error, err error) {
	g, werr := ReadGit(ctx, dir)
	if werr != nil {
		return Unknown, werr, nil
	}
	v, err := Version(g)
	if err != nil {
		return "", nil, err
	}
	return v, nil, nil
}
