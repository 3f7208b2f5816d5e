//go:build !unix

package hfhub

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// staleLock is the age after which a lock file left by a dead process is
// broken.
const staleLock = 30 * time.Minute

// lockFile takes an exclusive lock by creating path (O_EXCL), waiting while
// another holder has it, and returns its release.
func lockFile(path string) (func(), error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	for {
		f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
		if err == nil {
			f.Close()
			return func() { os.Remove(path) }, nil
		}
		if !errors.Is(err, fs.ErrExist) {
			return nil, err
		}
		if st, err := os.Stat(path); err == nil && time.Since(st.ModTime()) > staleLock {
			os.Remove(path)
			continue
		}
		time.Sleep(100 * time.Millisecond)
	}
}
