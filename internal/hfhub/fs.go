package hfhub

import (
	"context"
	"errors"
	"io"
	"os"

	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem"
)

func init() {
	filesystem.Register(Scheme, func(context.Context) filesystem.Interface { return beamFS{} })
}

// ErrReadOnly is returned for writes and removals under hf://.
var ErrReadOnly = errors.New("hf:// is read-only: bltpipe reads from the Hugging Face Hub but never writes to it; give a local or gs:// --output")

// beamFS is the hf:// filesystem of Beam's registry. Each call uses the
// client of the current environment (FromEnv).
type beamFS struct{}

func (beamFS) Close() error { return nil }

// List expands a glob (see Client.Glob) into commit-pinned hf:// paths.
func (beamFS) List(ctx context.Context, glob string) ([]string, error) {
	return FromEnv().Glob(ctx, glob)
}

// OpenRead downloads the file into the cache (if it is not there) and
// opens the cached copy.
func (beamFS) OpenRead(ctx context.Context, name string) (io.ReadCloser, error) {
	p, err := FromEnv().Local(ctx, name)
	if err != nil {
		return nil, err
	}
	return os.Open(p)
}

func (beamFS) OpenWrite(ctx context.Context, name string) (io.WriteCloser, error) {
	return nil, ErrReadOnly
}

// Size is the listed size; nothing is downloaded.
func (beamFS) Size(ctx context.Context, name string) (int64, error) {
	_, _, e, err := FromEnv().Stat(ctx, name)
	if err != nil {
		return -1, err
	}
	return e.ContentSize(), nil
}

func (beamFS) Remove(ctx context.Context, name string) error { return ErrReadOnly }
