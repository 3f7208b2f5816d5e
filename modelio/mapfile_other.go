//go:build !unix

package modelio

import "os"

// mapFile reads path into memory once (no mmap on this platform).
func mapFile(path string) (data []byte, release func(), err error) {
	data, err = os.ReadFile(path)
	return data, func() {}, err
}
