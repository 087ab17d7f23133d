//go:build unix

package procfs

import "syscall"

// Disk is the space of the file system holding a folder, in bytes.
type Disk struct {
	Free  int64 // available to the agent's user (statfs f_bavail)
	Total int64
}

// ReadDisk returns the space of the file system that holds path.
func ReadDisk(path string) (Disk, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(path, &st); err != nil {
		return Disk{}, err
	}
	bs := int64(st.Bsize)
	return Disk{Free: int64(st.Bavail) * bs, Total: int64(st.Blocks) * bs}, nil
}
