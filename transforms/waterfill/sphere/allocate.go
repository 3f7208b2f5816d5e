// Package sphere places every patch of a bltpipe output on the sphere: its
// direction is the patch embedding (normalised; in patches/), its radius
// the shell that water-filling gives it (package alloc). It writes
//
//	sphere/<split>.parquet  one per patches/<split>.parquet, same name
//	sphere/_SPHERE.json     the shells: radii, capacities, occupancy
//
// from patches/ shards already written, streaming their row groups (five
// small columns, never the embeddings), so memory does not depend on the
// corpus size (except for osmotic, which holds 16 bytes a patch on one
// worker). Stage does it inside the pipeline; Run does it over an existing
// output directory (bltpipe waterfill), computing the statistics itself.
//
// It owns sphere/ and nothing else; Run also refreshes the allocation
// section of waterfill/_STATS.json and the sphere entries of
// _MANIFEST.json.
package sphere

import (
	"context"
	"fmt"
	"path"
	"slices"
	"sync"

	"github.com/bltpipe/bltpipe/schemas"
	"github.com/bltpipe/bltpipe/transforms/fsio"
	"github.com/bltpipe/bltpipe/transforms/record"
	"github.com/bltpipe/bltpipe/transforms/waterfill"
	"github.com/bltpipe/bltpipe/transforms/waterfill/alloc"
)

// ShardResult is one sphere shard written: its file and its per-shell
// counts (length S).
type ShardResult struct {
	Info   record.ShardInfo
	Counts []int64
}

// SphereName returns the sphere shard's path (relative to the output
// directory) for a patches shard's relative path.
func SphereName(patchesRel string) string {
	return schemas.SphereDir + "/" + path.Base(patchesRel)
}

// ScanStats computes the allocation summary of patches shards: one
// summary per file (rows in file order); a split's files merged in part
// order, then the splits in order, as the pipeline merges them (see
// waterfill.SplitAcc). Histograms merge exactly, so only the per-file
// moments wait for their turn. workers ≥ 1 files are read at once.
func ScanStats(ctx context.Context, files []string, w alloc.Weighting, workers int) (alloc.Summary, error) {
	files = slices.Clone(files)
	slices.SortFunc(files, schemas.ComparePatchesFiles)
	parts := make([]alloc.Summary, len(files))
	var mu sync.Mutex
	var hist alloc.Hist
	err := forEach(ctx, len(files), workers, func(i int) error {
		a := alloc.NewAcc(w)
		err := scanPatches(ctx, files[i], func(b *batch) error {
			for r := 0; r < b.len(); r++ {
				a.Add(b.patch(r))
			}
			return nil
		})
		if err != nil {
			return err
		}
		s := a.Summary()
		mu.Lock()
		hist = alloc.MergeHist(hist, s.Hist)
		mu.Unlock()
		s.Hist = alloc.Hist{}
		parts[i] = s
		return nil
	})
	if err != nil {
		return alloc.Summary{}, err
	}
	total := alloc.Summary{Weighting: w}
	for i, j := 0, 1; i < len(files); j++ {
		if j == len(files) || splitOf(files[j]) != splitOf(files[i]) {
			total.MergeMoments(waterfill.MergeParts(w, slices.Values(parts[i:j])))
			i = j
		}
	}
	total.Hist = hist
	return total, nil
}

// forEach runs fn(0…n−1) on up to workers goroutines and returns the first
// error (by index, so the error reported does not depend on scheduling).
func forEach(ctx context.Context, n, workers int, fn func(int) error) error {
	workers = max(1, min(workers, n))
	errs := make([]error, n)
	next := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if ctx.Err() != nil {
					errs[i] = ctx.Err()
					continue
				}
				errs[i] = fn(i)
			}
		}()
	}
	for i := 0; i < n; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// AllocateShard streams one patches shard (absolute path in) and writes its
// sphere shard (out, relative rel) with a plan that places patches one by
// one (rank, entropy, thrml). Invalid patches get no row.
func AllocateShard(ctx context.Context, pl *alloc.Plan, in, out, rel string) (ShardResult, error) {
	if pl.Config.Method == alloc.MethodOsmotic {
		return ShardResult{}, fmt.Errorf("osmotic allocation needs every patch at once: use AllocateAll")
	}
	return writeShard(ctx, pl, in, out, rel, func(alloc.Patch, alloc.Assignment) int { return -1 })
}

// writeShard streams in and writes out; shellOf may override the plan's
// shell of each valid patch (osmotic) by returning ≥ 0.
func writeShard(ctx context.Context, pl *alloc.Plan, in, out, rel string, shellOf func(alloc.Patch, alloc.Assignment) int) (ShardResult, error) {
	w, err := newSphereWriter(ctx, out)
	if err != nil {
		return ShardResult{}, err
	}
	counts := make([]int64, pl.Config.Shells)
	err = scanPatches(ctx, in, func(b *batch) error {
		for r := 0; r < b.len(); r++ {
			p := b.patch(r)
			if !p.Valid() {
				continue
			}
			a := pl.Assign(p, alloc.PatchID(b.docID.Value(r), b.patchIndex.Value(r)))
			if k := shellOf(p, a); k >= 0 {
				a.Shell, a.Radius = k, pl.Geometry.Radius(k)
			}
			counts[a.Shell]++
			if err := w.append(b.docID.Value(r), b.patchIndex.Value(r), a); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		w.Abort()
		return ShardResult{}, err
	}
	if err := w.Close(); err != nil {
		return ShardResult{}, err
	}
	info := record.ShardInfo{Table: schemas.SphereDir, Path: rel, Split: splitOf(rel), Rows: w.Rows(), Bytes: w.File().Size(), SHA256: w.File().SHA256()}
	return ShardResult{Info: info, Counts: counts}, nil
}

// splitOf is the split ID a shard is named after.
func splitOf(rel string) string {
	split, _ := schemas.PatchesPartOf(rel)
	return split
}

// AllocateAll writes the sphere shards of every patches shard under dir
// (patchesRel relative to dir, sorted). Methods that place patches one by
// one run workers shards at once; osmotic reads every valid patch's
// prominence and identity into memory (in the order of patchesRel, rows in
// file order), iterates, then writes the shards one after another.
func AllocateAll(ctx context.Context, pl *alloc.Plan, dir string, patchesRel []string, workers int) ([]ShardResult, *alloc.OsmoticReport, error) {
	res := make([]ShardResult, len(patchesRel))
	paths := func(i int) (string, string, string) {
		rel := SphereName(patchesRel[i])
		return fsio.Join(dir, patchesRel[i]), fsio.Join(dir, rel), rel
	}
	if pl.Config.Method != alloc.MethodOsmotic {
		err := forEach(ctx, len(patchesRel), workers, func(i int) error {
			in, out, rel := paths(i)
			r, err := AllocateShard(ctx, pl, in, out, rel)
			res[i] = r
			return err
		})
		return res, nil, err
	}
	p := make([]float32, 0, pl.N)
	ids := make([]uint64, 0, pl.N)
	for i := range patchesRel {
		in, _, _ := paths(i)
		err := scanPatches(ctx, in, func(b *batch) error {
			for r := 0; r < b.len(); r++ {
				if pt := b.patch(r); pt.Valid() {
					p = append(p, pt.Prominence)
					ids = append(ids, alloc.PatchID(b.docID.Value(r), b.patchIndex.Value(r)))
				}
			}
			return nil
		})
		if err != nil {
			return nil, nil, err
		}
	}
	if int64(len(p)) != pl.N {
		return nil, nil, fmt.Errorf("patches/ holds %d valid patches, the statistics %d: recompute them", len(p), pl.N)
	}
	shells, rep := pl.Osmotic(p, ids)
	p, ids = nil, nil // only the shells are needed from here
	next := 0
	for i := range patchesRel {
		in, out, rel := paths(i)
		r, err := writeShard(ctx, pl, in, out, rel, func(alloc.Patch, alloc.Assignment) int {
			k := int(shells[next])
			next++
			return k
		})
		if err != nil {
			return nil, nil, err
		}
		res[i] = r
	}
	return res, &rep, nil
}
