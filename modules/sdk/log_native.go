//go:build !wasip1

package sdk

import (
	"context"
	"log/slog"
)

// Log writes msg to slog's default logger at level.
func Log(level Level, msg string) {
	slog.Default().Log(context.Background(), slog.Level(level), msg)
}
