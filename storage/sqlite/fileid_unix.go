//go:build unix

package sqlite

import (
	"os"
	"syscall"
)

// fileID identifies a file on this machine: its device and inode.
type fileID struct {
	dev, ino uint64
	ok       bool // false where the platform does not say
}

func idOf(fi os.FileInfo) fileID {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fileID{}
	}
	return fileID{dev: uint64(st.Dev), ino: uint64(st.Ino), ok: true}
}
