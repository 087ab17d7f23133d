//go:build !wasip1

// Command native is the order service as a plain Go HTTP server, the
// baseline the Wasm build is measured against:
//
//	native --http 127.0.0.1:8080 --db sqlite:/var/lib/orders.db
//	native --http :8080 --db mysql://user:pass@127.0.0.1:3306/orders
//
// With --db empty it reads DATABASE_URL. It prints one line when it is
// ready and shuts down cleanly on SIGINT or SIGTERM.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/edgeplane/edge/internal/dbbind"
	"github.com/edgeplane/edge/modules/orders"
	"github.com/edgeplane/edge/modules/sdk"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run serves until ctx is done. It returns 0 after a clean shutdown, 2 for
// bad usage and 1 for any other failure.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("orders-native", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("http", "127.0.0.1:8080", "listen `address`")
	dsn := fs.String("db", "", "database `DSN`: sqlite:PATH or mysql://user:pass@host:port/db (default $DATABASE_URL)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "orders-native: unexpected arguments: %q\n", fs.Args())
		return 2
	}
	if *dsn == "" {
		*dsn = os.Getenv("DATABASE_URL")
	}
	if *dsn == "" {
		fmt.Fprintln(stderr, "orders-native: no database: pass --db or set DATABASE_URL")
		return 2
	}
	if err := serve(ctx, *addr, *dsn, stdout); err != nil {
		fmt.Fprintf(stderr, "orders-native: %v\n", err)
		return 1
	}
	return 0
}

func serve(ctx context.Context, addr, dsn string, stdout io.Writer) error {
	db, err := dbbind.Open(ctx, dsn)
	if err != nil {
		return fmt.Errorf("open database: %w", err)
	}
	defer db.Close()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	// The limits of the agent's HTTP server (agent/httpserve), so that
	// both builds take the same requests: headers in 10 s and 64 KiB,
	// the whole request in 40 s, the answer in 30 s, 60 s idle.
	srv := &http.Server{
		Handler:           sdk.NativeHandler(orders.New(db)),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       40 * time.Second,
		WriteTimeout:      80 * time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    64 << 10,
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	fmt.Fprintf(stdout, "orders-native: serving on http://%s\n", ln.Addr())
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}
