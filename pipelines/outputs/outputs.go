// Package outputs reads a finished bltpipe run: _MANIFEST.json,
// waterfill/_STATS.json, sphere/_SPHERE.json, _TIMING.json and the
// documents/, patches/, blt/ and rejects/ tables, local or gs:// (through
// transforms/fsio). Tables are streamed record batch by record batch, with
// only the columns asked for, so a large run is read in bounded memory.
//
// It only reads. It knows nothing about Beam, models or drawing; the
// bltpipe inspect, plot and report commands sit on top of it. The layout and
// every column are defined in package schemas and docs/SCHEMA.md.
package outputs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sort"
	"strings"

	"github.com/bltpipe/bltpipe/schemas"
	"github.com/bltpipe/bltpipe/transforms/fsio"
	"github.com/bltpipe/bltpipe/transforms/waterfill"
	"github.com/bltpipe/bltpipe/transforms/waterfill/sphere"
	"github.com/bltpipe/bltpipe/transforms/write"
)

// Run is a finished output directory.
type Run struct {
	Dir      string
	Manifest write.Manifest
	// Stats is waterfill/_STATS.json; nil if absent.
	Stats *waterfill.File
	// Sphere is sphere/_SPHERE.json (bltpipe waterfill); nil if absent.
	Sphere *sphere.File
	// Timing is _TIMING.json (bltpipe run); nil if absent (runs from before
	// it was written, or pipelines run from Go code).
	Timing *write.Timing
}

// ErrNotARun is returned by Open when DIR has no _MANIFEST.json.
var ErrNotARun = errors.New("no " + schemas.ManifestFile)

// Open reads the run's JSON files. The manifest must exist (it is written
// last, so its presence means the run completed); the others are optional.
func Open(ctx context.Context, dir string) (*Run, error) {
	r := &Run{Dir: strings.TrimSuffix(dir, "/")}
	b, err := fsio.ReadFile(ctx, fsio.Join(r.Dir, schemas.ManifestFile))
	if err != nil {
		if isNotExist(err) {
			return nil, fmt.Errorf("%s: %w: not a finished bltpipe run (is the run still going, or is this the wrong directory?)", dir, ErrNotARun)
		}
		return nil, err
	}
	if err := json.Unmarshal(b, &r.Manifest); err != nil {
		return nil, fmt.Errorf("%s: %w", fsio.Join(r.Dir, schemas.ManifestFile), err)
	}
	if r.Manifest.SchemaVersion != schemas.Version {
		return nil, fmt.Errorf("%s: schema %q, this bltpipe reads %q", dir, r.Manifest.SchemaVersion, schemas.Version)
	}
	r.Stats, err = optionalJSON[waterfill.File](ctx, fsio.Join(r.Dir, schemas.StatsFile))
	if err != nil {
		return nil, err
	}
	r.Sphere, err = optionalJSON[sphere.File](ctx, fsio.Join(r.Dir, schemas.SphereFile))
	if err != nil {
		return nil, err
	}
	r.Timing, err = optionalJSON[write.Timing](ctx, fsio.Join(r.Dir, schemas.TimingFile))
	if err != nil {
		return nil, err
	}
	return r, nil
}

func optionalJSON[T any](ctx context.Context, path string) (*T, error) {
	b, err := fsio.ReadFile(ctx, path)
	if err != nil {
		if isNotExist(err) {
			return nil, nil
		}
		return nil, err
	}
	v := new(T)
	if err := json.Unmarshal(b, v); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return v, nil
}

func isNotExist(err error) bool {
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, os.ErrNotExist) {
		return true
	}
	// gs:// reads report a missing object in words.
	s := err.Error()
	return strings.Contains(s, "object doesn't exist") || strings.Contains(s, "not found") || strings.Contains(s, "no such file")
}

// Files returns the absolute paths of the manifest's shards of a table
// (schemas.DocumentsDir, PatchesDir, HypergraphDir, BLTArrowDir), sorted by
// path, which is split order.
func (r *Run) Files(table string) []string {
	var out []string
	for _, s := range r.Manifest.Shards {
		if s.Table == table {
			out = append(out, fsio.Join(r.Dir, s.Path))
		}
	}
	sort.Strings(out)
	return out
}

// DiskBytes returns the size on disk of every shard the manifest lists.
func (r *Run) DiskBytes() int64 {
	var n int64
	for _, s := range r.Manifest.Shards {
		n += s.Bytes
	}
	return n
}

// globFiles lists files matching a glob under the run, sorted; nothing if
// the directory does not exist.
func (r *Run) globFiles(ctx context.Context, rel string) ([]string, error) {
	files, err := fsio.List(ctx, fsio.Join(r.Dir, rel))
	if err != nil {
		if isNotExist(err) {
			return nil, nil
		}
		return nil, err
	}
	var out []string
	for _, f := range files {
		if !strings.Contains(f, fsio.TempMarker) {
			out = append(out, f)
		}
	}
	sort.Strings(out)
	return out, nil
}
