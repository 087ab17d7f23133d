// Package logring keeps the recent log lines of the agent and of each
// module in memory, bounded, and answers the controller's log requests
// (wire.LogRequest) from them with one wire.LogBatch.
//
//	agent's own lines   slog text handler ──tee──▶ stderr (journald)
//	                                        └─────▶ Writer ─▶ the agent's Ring
//	a worker's lines    worker stderr (pipe) ─▶ supervisor ─▶ stderr (journald)
//	  (its own lines, the guest's log                      └─▶ Writer ─▶ the module's Ring
//	  records, a crash's output)
//
// Both sides write slog's text format, so one parser (ParseLine) reads
// them back into time, level and message; a line that is not a log record
// (the Go runtime's crash output) is kept as an ERROR line, the first
// MaxRawLines of each writer only, so a goroutine dump cannot push every
// other line out.
//
// # Bounds
//
// A Ring holds at most MaxLines lines and MaxBytes bytes (a line costs its
// message, version and level plus LineOverhead); the oldest lines go
// first. A message is cut to wire.MaxLogLineSize. A Writer admits at most
// Rate lines a second, in bursts of Burst (a token bucket): a log storm
// costs a bounded amount of CPU here and keeps some older lines in the
// ring; lines over it are counted (Writer.Dropped) and still reach stderr.
// A Set keeps one Ring per module, at most MaxRings, forgetting the one
// written least recently beyond that. With the defaults a module costs at
// most 128 KiB of lines, the agent 128 KiB more.
//
// Lines in a Ring have strictly increasing times (a line no later than the
// one before it is moved 1 ns after it), so a follower that asks again
// with Since = the last time it got misses nothing and repeats nothing.
package logring
