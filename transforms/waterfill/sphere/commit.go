package sphere

import (
	"context"
	"sort"
	"strings"

	"github.com/bltpipe/bltpipe/schemas"
	"github.com/bltpipe/bltpipe/transforms/fsio"
	"github.com/bltpipe/bltpipe/transforms/record"
	"github.com/bltpipe/bltpipe/transforms/waterfill/alloc"
)

// shardGlob matches the sphere shards bltpipe writes (not temporaries).
const shardGlob = schemas.SphereDir + "/part-*" + schemas.ParquetExt

// commit finishes an allocation whose shards are written: it writes
// sphere/_SPHERE.json, removes sphere shards not in results (left by a run
// over other input) and temporaries of failed attempts, and returns the
// shards' infos sorted by path. A nil plan (--waterfill none) removes
// every sphere shard and _SPHERE.json.
func commit(ctx context.Context, dir string, pl *alloc.Plan, results []ShardResult, rep *alloc.OsmoticReport) ([]record.ShardInfo, File, error) {
	var f File
	keep := map[string]bool{}
	var infos []record.ShardInfo
	for _, r := range results {
		if !keep[r.Info.Path] { // a retried bundle may report a shard twice
			keep[r.Info.Path] = true
			infos = append(infos, r.Info)
		}
	}
	sort.Slice(infos, func(i, j int) bool { return infos[i].Path < infos[j].Path })
	if pl != nil {
		dedup := make([]ShardResult, 0, len(infos))
		seen := map[string]bool{}
		for _, r := range results {
			if !seen[r.Info.Path] {
				seen[r.Info.Path] = true
				dedup = append(dedup, r)
			}
		}
		var err error
		if f, err = NewFile(pl, dedup, rep); err != nil {
			return nil, f, err
		}
		b, err := f.Marshal()
		if err != nil {
			return nil, f, err
		}
		if _, err := fsio.WriteFile(ctx, fsio.Join(dir, schemas.SphereFile), b); err != nil {
			return nil, f, err
		}
	} else if err := fsio.Remove(ctx, fsio.Join(dir, schemas.SphereFile)); err != nil {
		return nil, f, err
	}
	for _, g := range []string{shardGlob, schemas.SphereDir + "/.*" + fsio.TempMarker + "*"} {
		files, err := fsio.List(ctx, fsio.Join(dir, g))
		if err != nil {
			return nil, f, err
		}
		for _, p := range files {
			rel := fsio.Rel(dir, p)
			if keep[rel] && !strings.Contains(rel, fsio.TempMarker) {
				continue
			}
			if err := fsio.Remove(ctx, p); err != nil {
				return nil, f, err
			}
		}
	}
	return infos, f, nil
}
