// Package boards holds the profiles of the boards edge-agent runs on and
// detects which one it is on.
//
// A profile sets what differs between a Raspberry Pi Zero 2 W and a
// VisionFive 2: the Go architecture the release is built for, the wazero
// engine (the compiler exists only for amd64 and arm64; elsewhere wazero
// interprets, 30–50× slower), how much RAM there is, and from that the
// default instance pool, the guest memory limit and the worker memory cap.
// Detection reads the device-tree model (/proc/device-tree/model) and falls
// back to the generic profile of the running architecture; the agent's
// --board flag overrides detection, and the agent's configuration can
// override any single value of the profile.
package boards

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
)

// Profile describes one kind of board.
type Profile struct {
	Name        string
	Description string
	// Models are prefixes of the device-tree model string that identify
	// the board; empty for generic profiles.
	Models []string
	Arch   string // GOARCH
	GOARM  int    // for Arch "arm"
	Engine string // "compiler" or "interpreter"
	RAMMiB int    // smallest RAM of the board's variants
	// Pool is the default number of warm instances per module.
	Pool int
	// MemoryPages is the default linear-memory limit per instance (64 KiB pages).
	MemoryPages uint32
	// WorkerMemoryMiB caps each worker process (cgroup memory.max).
	WorkerMemoryMiB int
	// DataDir is the agent's private state folder.
	DataDir string
}

const dataDir = "/var/lib/edge-agent"

// Profiles lists every known board, specific boards before generic ones.
// Sizing: a warm instance of the order service takes ~17 MiB after load and
// a worker ~40 MiB before its first instance (docs/BENCHMARKS.md), so the
// worker cap is ~40 MiB + pool × 2 × the instance's memory, within a third
// of the board's RAM.
var Profiles = []Profile{
	{Name: "rpi5", Description: "Raspberry Pi 5", Models: []string{"Raspberry Pi 5"},
		Arch: "arm64", Engine: "compiler", RAMMiB: 2048, Pool: 4, MemoryPages: 2048, WorkerMemoryMiB: 512, DataDir: dataDir},
	{Name: "rpi4", Description: "Raspberry Pi 4", Models: []string{"Raspberry Pi 4", "Raspberry Pi Compute Module 4"},
		Arch: "arm64", Engine: "compiler", RAMMiB: 1024, Pool: 2, MemoryPages: 1024, WorkerMemoryMiB: 256, DataDir: dataDir},
	{Name: "rpi-zero-2w", Description: "Raspberry Pi Zero 2 W (64-bit OS)", Models: []string{"Raspberry Pi Zero 2 W"},
		Arch: "arm64", Engine: "compiler", RAMMiB: 512, Pool: 1, MemoryPages: 512, WorkerMemoryMiB: 128, DataDir: dataDir},
	{Name: "rpi3-32", Description: "Raspberry Pi 3 on a 32-bit OS", Models: []string{"Raspberry Pi 3"},
		Arch: "arm", GOARM: 7, Engine: "interpreter", RAMMiB: 1024, Pool: 1, MemoryPages: 512, WorkerMemoryMiB: 192, DataDir: dataDir},
	{Name: "visionfive2", Description: "StarFive VisionFive 2", Models: []string{"StarFive VisionFive 2"},
		Arch: "riscv64", Engine: "interpreter", RAMMiB: 2048, Pool: 2, MemoryPages: 1024, WorkerMemoryMiB: 384, DataDir: dataDir},
	{Name: "beaglev-ahead", Description: "BeagleV-Ahead", Models: []string{"BeagleV Ahead", "BeagleV-Ahead"},
		Arch: "riscv64", Engine: "interpreter", RAMMiB: 4096, Pool: 2, MemoryPages: 1024, WorkerMemoryMiB: 384, DataDir: dataDir},
	{Name: "generic-amd64", Description: "any amd64 Linux machine",
		Arch: "amd64", Engine: "compiler", RAMMiB: 2048, Pool: 2, MemoryPages: 2048, WorkerMemoryMiB: 512, DataDir: dataDir},
	{Name: "generic-arm64", Description: "any arm64 Linux board",
		Arch: "arm64", Engine: "compiler", RAMMiB: 1024, Pool: 2, MemoryPages: 1024, WorkerMemoryMiB: 256, DataDir: dataDir},
	{Name: "generic-armv7", Description: "any 32-bit ARMv7 Linux board",
		Arch: "arm", GOARM: 7, Engine: "interpreter", RAMMiB: 512, Pool: 1, MemoryPages: 512, WorkerMemoryMiB: 128, DataDir: dataDir},
	{Name: "generic-riscv64", Description: "any riscv64 Linux board",
		Arch: "riscv64", Engine: "interpreter", RAMMiB: 1024, Pool: 1, MemoryPages: 1024, WorkerMemoryMiB: 256, DataDir: dataDir},
}

// ErrUnknown is returned for a board name that has no profile.
var ErrUnknown = errors.New("unknown board")

// Lookup returns the profile called name.
func Lookup(name string) (Profile, error) {
	for _, p := range Profiles {
		if p.Name == name {
			return p, nil
		}
	}
	var names []string
	for _, p := range Profiles {
		names = append(names, p.Name)
	}
	return Profile{}, fmt.Errorf("%w %q (known: %s)", ErrUnknown, name, strings.Join(names, ", "))
}

// Generic returns the generic profile of a GOARCH.
func Generic(arch string) (Profile, error) {
	if arch == "arm" {
		return Lookup("generic-armv7")
	}
	return Lookup("generic-" + arch)
}

// Detect picks the profile of the machine whose root file system is root
// ("/" on a board; a test folder in tests) running GOARCH arch: the first
// specific profile whose model prefix matches the device-tree model and
// whose architecture is arch, else the generic profile of arch. It returns
// the model string it read (empty if there is none) for the log.
func Detect(root, arch string) (Profile, string, error) {
	model := readModel(root)
	for _, p := range Profiles {
		if p.Arch != arch {
			continue
		}
		for _, m := range p.Models {
			if strings.HasPrefix(model, m) {
				return p, model, nil
			}
		}
	}
	p, err := Generic(arch)
	if err != nil {
		return Profile{}, model, fmt.Errorf("no profile for %s: %w", arch, err)
	}
	return p, model, nil
}

// DetectHost detects the profile of the running machine.
func DetectHost() (Profile, string, error) { return Detect("/", runtime.GOARCH) }

// readModel reads the device-tree model, which the kernel stores with a
// trailing NUL. A missing file (x86, containers) is an empty model.
func readModel(root string) string {
	for _, p := range []string{"proc/device-tree/model", "sys/firmware/devicetree/base/model"} {
		b, err := os.ReadFile(filepath.Join(root, p))
		if err == nil {
			return strings.TrimSpace(string(bytes.TrimRight(b, "\x00")))
		}
	}
	return ""
}

// Validate checks a profile's consistency, including after overrides.
func (p Profile) Validate() error {
	var errs []error
	switch p.Engine {
	case "compiler":
		if p.Arch != "amd64" && p.Arch != "arm64" {
			errs = append(errs, fmt.Errorf("engine compiler on %s: wazero compiles only for amd64 and arm64", p.Arch))
		}
	case "interpreter":
	default:
		errs = append(errs, fmt.Errorf("engine %q: want compiler or interpreter", p.Engine))
	}
	if p.Pool < 1 || p.Pool > 64 {
		errs = append(errs, fmt.Errorf("pool %d: want 1..64", p.Pool))
	}
	if p.MemoryPages < 16 || p.MemoryPages > 65536 {
		errs = append(errs, fmt.Errorf("memory pages %d: want 16..65536", p.MemoryPages))
	}
	if p.WorkerMemoryMiB < 32 {
		errs = append(errs, fmt.Errorf("worker memory %d MiB: want at least 32", p.WorkerMemoryMiB))
	}
	if int64(p.MemoryPages)*64/1024 > int64(p.WorkerMemoryMiB) {
		errs = append(errs, fmt.Errorf("memory pages %d (%d MiB) exceed the worker cap of %d MiB", p.MemoryPages, p.MemoryPages/16, p.WorkerMemoryMiB))
	}
	if p.DataDir == "" || !filepath.IsAbs(p.DataDir) {
		errs = append(errs, fmt.Errorf("data folder %q: want an absolute path", p.DataDir))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("board %s: %w", p.Name, err)
	}
	return nil
}
