// Package fsio is the one place the pipeline touches storage: globbing,
// random-access reads and atomic writes over Beam's filesystem registry
// (local paths, gs:// and read-only hf:// — Hugging Face Hub repositories,
// see internal/hfhub — are registered here; tests may register memfs).
//
// It owns no formats. Writers get atomicity from Commit: bytes go to a
// temporary object next to the target and are renamed into place only after
// they were written completely, so a reader never sees a partial shard and a
// retried bundle simply overwrites the same name.
package fsio

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"cloud.google.com/go/storage"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem"
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem/gcs"   // gs://
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem/local" // plain paths
	"github.com/bltpipe/bltpipe/internal/hfhub"                        // hf://
)

// TempMarker is part of the name of every temporary object; finalisation
// removes leftovers carrying it.
const TempMarker = ".bltpipe-tmp-"

var (
	mu    sync.Mutex
	cache = map[string]filesystem.Interface{}
	gcs   = map[string]*storage.Client{} // by storage emulator (gcsEmulator)
)

// gcsEmulator is STORAGE_EMULATOR_HOST, which the GCS client reads when it
// is made: gs:// clients are cached per emulator, so a process that moves
// to another one (tests, each with its own fake GCS) gets a new client
// instead of one bound to an emulator that is gone.
func gcsEmulator() string { return os.Getenv("STORAGE_EMULATOR_HOST") }

// Scheme returns the URI scheme of path ("gs", "memfs") or "" for local paths.
func Scheme(path string) string {
	if i := strings.Index(path, "://"); i > 0 {
		return path[:i]
	}
	return ""
}

// FS returns the (process-wide, cached) Beam filesystem serving path.
func FS(ctx context.Context, path string) (filesystem.Interface, error) {
	key := Scheme(path)
	if key == "gs" {
		key += "|" + gcsEmulator()
	}
	mu.Lock()
	defer mu.Unlock()
	if f, ok := cache[key]; ok {
		return f, nil
	}
	f, err := filesystem.New(ctx, path)
	if err != nil {
		return nil, fmt.Errorf("storage for %s: %w", path, err)
	}
	cache[key] = f
	return f, nil
}

// Join joins a directory URI and a relative slash path.
func Join(dir string, elem ...string) string {
	if Scheme(dir) == "" {
		return filepath.Join(append([]string{dir}, elem...)...)
	}
	return strings.TrimRight(dir, "/") + "/" + strings.Join(elem, "/")
}

// Rel returns path relative to dir with forward slashes.
func Rel(dir, path string) string {
	if Scheme(dir) == "" {
		if r, err := filepath.Rel(dir, path); err == nil {
			return filepath.ToSlash(r)
		}
		return path
	}
	return strings.TrimPrefix(path, strings.TrimRight(dir, "/")+"/")
}

// Expand lists the files matching one pattern, sorted. A local directory
// expands to every regular file below it (hidden files and directories,
// whose names start with '.', are skipped). A pattern without glob
// characters must name an existing file. Matches ExpandChecked refuses
// (links leaving the root, devices, FIFOs, unsafe names) are left out.
func Expand(ctx context.Context, pattern string) ([]string, error) {
	files, _, err := ExpandChecked(ctx, pattern)
	return files, err
}

// Size returns the size of a file in bytes. A local path is stat'ed, not
// opened (Beam's local filesystem opens it, which blocks on a FIFO); only
// regular files have a size.
func Size(ctx context.Context, path string) (int64, error) {
	if Scheme(path) == "" {
		st, err := os.Stat(path)
		if err != nil {
			return 0, fmt.Errorf("size of %s: %w", path, err)
		}
		if !st.Mode().IsRegular() {
			return 0, fmt.Errorf("size of %s: not a regular file (%s)", path, kindOf(st.Mode()))
		}
		return st.Size(), nil
	}
	f, err := FS(ctx, path)
	if err != nil {
		return 0, err
	}
	n, err := f.Size(ctx, path)
	if err != nil {
		return 0, fmt.Errorf("size of %s: %w", path, err)
	}
	return n, nil
}

// OpenRead opens a file for sequential reading.
func OpenRead(ctx context.Context, path string) (io.ReadCloser, error) {
	f, err := FS(ctx, path)
	if err != nil {
		return nil, err
	}
	r, err := f.OpenRead(ctx, path)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	return r, nil
}

// ReadFile reads a whole file.
func ReadFile(ctx context.Context, path string) ([]byte, error) {
	r, err := OpenRead(ctx, path)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return b, nil
}

// RandomAccess is a file opened for positioned reads.
type RandomAccess interface {
	io.ReaderAt
	io.Seeker
	io.Reader
	io.Closer
	Size() int64
}

// OpenRandom opens path for positioned reads: local files directly, gs://
// objects with ranged GETs (only the bytes asked for travel), hf:// files
// from the Hugging Face cache (first reads ranged, so a Parquet footer costs
// kilobytes; reading on downloads the file once, resumably), anything else
// by reading the whole file into memory.
func OpenRandom(ctx context.Context, path string) (RandomAccess, error) {
	switch Scheme(path) {
	case "":
		f, err := os.Open(path)
		if err != nil {
			return nil, fmt.Errorf("open %s: %w", path, err)
		}
		st, err := f.Stat()
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("stat %s: %w", path, err)
		}
		return &section{SectionReader: io.NewSectionReader(f, 0, st.Size()), c: f}, nil
	case "gs":
		ra, err := openGCS(ctx, path)
		if err != nil {
			return nil, err
		}
		return &section{SectionReader: io.NewSectionReader(ra, 0, ra.size), c: io.NopCloser(nil)}, nil
	case hfhub.Scheme:
		f, err := hfhub.FromEnv().OpenReaderAt(ctx, path)
		if err != nil {
			return nil, fmt.Errorf("open %s: %w", path, err)
		}
		return &section{SectionReader: io.NewSectionReader(f, 0, f.Size()), c: f}, nil
	default:
		b, err := ReadFile(ctx, path)
		if err != nil {
			return nil, err
		}
		return &section{SectionReader: io.NewSectionReader(bytes.NewReader(b), 0, int64(len(b))), c: io.NopCloser(nil)}, nil
	}
}

type section struct {
	*io.SectionReader
	c io.Closer
}

func (s *section) Close() error { return s.c.Close() }

type gcsObject struct {
	ctx  context.Context
	obj  *storage.ObjectHandle
	size int64
}

func openGCS(ctx context.Context, path string) (*gcsObject, error) {
	rest := strings.TrimPrefix(path, "gs://")
	bucket, object, ok := strings.Cut(rest, "/")
	if !ok || bucket == "" || object == "" {
		return nil, fmt.Errorf("bad object path %q: want gs://bucket/object", path)
	}
	mu.Lock()
	c := gcs[gcsEmulator()]
	if c == nil {
		var err error
		if c, err = storage.NewClient(ctx); err != nil {
			mu.Unlock()
			return nil, fmt.Errorf("gcs client: %w", err)
		}
		gcs[gcsEmulator()] = c
	}
	mu.Unlock()
	obj := c.Bucket(bucket).Object(object)
	attrs, err := obj.Attrs(ctx)
	if err != nil {
		return nil, fmt.Errorf("stat %s: %w", path, err)
	}
	return &gcsObject{ctx: ctx, obj: obj, size: attrs.Size}, nil
}

func (g *gcsObject) ReadAt(p []byte, off int64) (int, error) {
	if off >= g.size {
		return 0, io.EOF
	}
	n := int64(len(p))
	if off+n > g.size {
		n = g.size - off
	}
	r, err := g.obj.NewRangeReader(g.ctx, off, n)
	if err != nil {
		return 0, err
	}
	defer r.Close()
	got, err := io.ReadFull(r, p[:n])
	if err == nil && int64(got) < int64(len(p)) {
		err = io.EOF
	}
	return got, err
}

// Remove deletes a file; a missing file is not an error.
func Remove(ctx context.Context, path string) error {
	f, err := FS(ctx, path)
	if err != nil {
		return err
	}
	rm, ok := f.(filesystem.Remover)
	if !ok {
		return fmt.Errorf("storage for %s cannot remove files", path)
	}
	if err := rm.Remove(ctx, path); err != nil && !os.IsNotExist(err) && !strings.Contains(err.Error(), "doesn't exist") && !strings.Contains(err.Error(), "not exist") {
		return fmt.Errorf("remove %s: %w", path, err)
	}
	return nil
}

// List returns the files matching a glob (nil when none), sorted.
func List(ctx context.Context, glob string) ([]string, error) {
	f, err := FS(ctx, glob)
	if err != nil {
		return nil, err
	}
	files, err := f.List(ctx, glob)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", glob, err)
	}
	sort.Strings(files)
	return files, nil
}

func openLocal(p string) (*os.File, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", p, err)
	}
	return f, nil
}
