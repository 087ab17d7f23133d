package hostlink

import (
	"fmt"
	"net"
	"os"
)

// Inherit opens the worker's end of the link from the descriptor fd.
func Inherit(fd uintptr) (*Conn, error) {
	f := os.NewFile(fd, "hostlink")
	if f == nil {
		return nil, fmt.Errorf("host link: no descriptor %d", fd)
	}
	c, err := fileConn(f)
	if err != nil {
		return nil, err
	}
	return New(c), nil
}

func fileConn(f *os.File) (net.Conn, error) {
	defer f.Close()
	c, err := net.FileConn(f)
	if err != nil {
		return nil, fmt.Errorf("host link: %w", err)
	}
	return c, nil
}
