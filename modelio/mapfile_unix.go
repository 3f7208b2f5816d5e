//go:build unix

package modelio

import (
	"fmt"
	"os"
	"syscall"
)

// mapFile maps path read-only into memory, so that decoding the tensors and
// hashing the file read it from disk once. release unmaps it; nothing may
// keep a reference to the bytes after that.
func mapFile(path string) (data []byte, release func(), err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, nil, err
	}
	if info.Size() == 0 {
		return nil, func() {}, nil
	}
	if int64(int(info.Size())) != info.Size() {
		return nil, nil, fmt.Errorf("map %s: %d bytes do not fit in memory", path, info.Size())
	}
	data, err = syscall.Mmap(int(f.Fd()), 0, int(info.Size()), syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		return nil, nil, fmt.Errorf("map %s: %w", path, err)
	}
	return data, func() { syscall.Munmap(data) }, nil
}
