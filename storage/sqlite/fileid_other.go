//go:build !unix

package sqlite

import "os"

// fileID identifies a file on this machine; here the platform does not
// say, and CheckFile only finds a removed file.
type fileID struct {
	dev, ino uint64
	ok       bool
}

func idOf(os.FileInfo) fileID { return fileID{} }
