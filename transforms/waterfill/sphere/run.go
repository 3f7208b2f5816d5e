package sphere

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"time"

	"github.com/bltpipe/bltpipe/schemas"
	"github.com/bltpipe/bltpipe/transforms/fsio"
	"github.com/bltpipe/bltpipe/transforms/record"
	"github.com/bltpipe/bltpipe/transforms/waterfill"
	"github.com/bltpipe/bltpipe/transforms/waterfill/alloc"
	"github.com/bltpipe/bltpipe/transforms/write"
)

// Options configure Run.
type Options struct {
	Dir     string       // a bltpipe output directory (local or gs://) with patches/
	Alloc   alloc.Config // method and shells
	Workers int          // shards read or written at once (≥ 1)
}

// Report is what Run did.
type Report struct {
	Stats   alloc.Summary
	Sphere  File
	Shards  []record.ShardInfo
	Scan    time.Duration // statistics pass
	Place   time.Duration // allocation pass (and writing)
	Patches int           // patches shards read
}

// Run re-allocates an existing output directory without the model: one
// streaming pass over patches/ for the statistics, one to place the
// patches and write sphere/. It then rewrites the allocation section of
// waterfill/_STATS.json (the rest is kept) and, if _MANIFEST.json exists,
// its sphere entries. Memory is bounded by the histogram, one batch a
// worker and, for osmotic only, 16 bytes a valid patch.
func Run(ctx context.Context, o Options) (*Report, error) {
	if err := o.Alloc.Validate(); err != nil {
		return nil, err
	}
	if o.Alloc.Method == alloc.MethodNone {
		return nil, fmt.Errorf("--waterfill none allocates nothing; pick rank, osmotic, thrml or entropy")
	}
	files, err := fsio.List(ctx, fsio.Join(o.Dir, schemas.PatchesDir, "part-*"+schemas.ParquetExt))
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("no %s/part-*%s under %s: is it a bltpipe output directory?", schemas.PatchesDir, schemas.ParquetExt, o.Dir)
	}
	rep := &Report{Patches: len(files)}
	start := time.Now()
	if rep.Stats, err = ScanStats(ctx, files, o.Alloc.Weighting(), o.Workers); err != nil {
		return nil, err
	}
	rep.Scan = time.Since(start)
	pl, err := alloc.NewPlan(o.Alloc, rep.Stats)
	if err != nil {
		return nil, err
	}
	rel := make([]string, len(files))
	for i, f := range files {
		rel[i] = fsio.Rel(o.Dir, f)
	}
	start = time.Now()
	results, orep, err := AllocateAll(ctx, pl, o.Dir, rel, o.Workers)
	if err != nil {
		return nil, err
	}
	if rep.Shards, rep.Sphere, err = commit(ctx, o.Dir, pl, results, orep); err != nil {
		return nil, err
	}
	rep.Place = time.Since(start)
	if err := updateStats(ctx, o.Dir, rep.Stats); err != nil {
		return nil, err
	}
	if err := updateManifest(ctx, o.Dir, rep.Shards); err != nil {
		return nil, err
	}
	return rep, nil
}

// updateStats replaces the allocation section of waterfill/_STATS.json,
// keeping the token statistics a pipeline run wrote there.
func updateStats(ctx context.Context, dir string, s alloc.Summary) error {
	p := fsio.Join(dir, schemas.StatsFile)
	f := waterfill.File{SchemaVersion: schemas.Version}
	if b, err := fsio.ReadFile(ctx, p); err == nil {
		if err := json.Unmarshal(b, &f); err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
	}
	f.Allocation = s.File()
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return err
	}
	_, err = fsio.WriteFile(ctx, p, append(b, '\n'))
	return err
}

// updateManifest replaces the sphere entries of _MANIFEST.json, if the
// directory has one, so that its sizes and hashes stay true.
func updateManifest(ctx context.Context, dir string, shards []record.ShardInfo) error {
	p := fsio.Join(dir, schemas.ManifestFile)
	b, err := fsio.ReadFile(ctx, p)
	if err != nil {
		return nil // no manifest: not a finished pipeline output; nothing to keep true
	}
	var m write.Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return fmt.Errorf("%s: %w", p, err)
	}
	kept := m.Shards[:0]
	for _, s := range m.Shards {
		if s.Table != schemas.SphereDir {
			kept = append(kept, s)
		}
	}
	m.Shards = append(kept, shards...)
	sort.Slice(m.Shards, func(i, j int) bool { return m.Shards[i].Path < m.Shards[j].Path })
	if b, err = json.MarshalIndent(m, "", "  "); err != nil {
		return err
	}
	_, err = fsio.WriteFile(ctx, p, append(b, '\n'))
	return err
}
