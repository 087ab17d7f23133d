package sdk

import "github.com/edgeplane/edge/modules/abi"

// Level is a log level; the values are those of log/slog (which a guest
// does not import: it pulls in encoding/json).
type Level int32

// Log levels.
const (
	LevelDebug Level = Level(abi.LevelDebug)
	LevelInfo  Level = Level(abi.LevelInfo)
	LevelWarn  Level = Level(abi.LevelWarn)
	LevelError Level = Level(abi.LevelError)
)
