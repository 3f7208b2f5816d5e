package sphere

import (
	"context"
	"fmt"
	"reflect"
	"runtime"
	"sort"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/bltpipe/bltpipe/schemas"
	"github.com/bltpipe/bltpipe/transforms/fsio"
	"github.com/bltpipe/bltpipe/transforms/record"
	"github.com/bltpipe/bltpipe/transforms/waterfill"
	"github.com/bltpipe/bltpipe/transforms/waterfill/alloc"
)

func init() {
	beam.RegisterType(reflect.TypeOf((*ShardResult)(nil)).Elem())
	beam.RegisterType(reflect.TypeOf((*Config)(nil)).Elem())
	beam.RegisterType(reflect.TypeOf((*alloc.Config)(nil)).Elem())
	register.Function2x0(selectPatches)
	register.DoFn4x1[context.Context, record.ShardInfo, func(*waterfill.Stats) bool, func(ShardResult), error](&shardFn{})
	register.DoFn5x1[context.Context, []byte, func(*record.ShardInfo) bool, func(*waterfill.Stats) bool, func(record.ShardInfo), error](&osmoticFn{})
	register.DoFn5x1[context.Context, []byte, func(*ShardResult) bool, func(*waterfill.Stats) bool, func(record.ShardInfo), error](&commitFn{})
	register.Emitter1[ShardResult]()
	register.Emitter1[record.ShardInfo]()
	register.Iter1[ShardResult]()
	register.Iter1[record.ShardInfo]()
	register.Iter1[waterfill.Stats]()
}

// Config configures Stage.
type Config struct {
	Output string       // the output directory (local or gs://)
	Alloc  alloc.Config // zero: alloc.DefaultConfig()
}

// Stage places the patches of the pipeline's run on the sphere. Inputs:
// shards, the PCollection<record.ShardInfo> of committed files (only the
// patches/ ones are read), and stats, the single-element
// PCollection<waterfill.Stats> computed by waterfill.PrepWeighted with
// c.Alloc.Weighting(). Rank, entropy and thrml write each sphere shard
// from its patches shard in parallel; osmotic runs on one worker over all
// of them. Output: PCollection<record.ShardInfo> of the sphere shards,
// emitted once _SPHERE.json is written and stale sphere shards are gone
// (with --waterfill none: no shards, and sphere/ emptied).
func Stage(s beam.Scope, shards, stats beam.PCollection, c Config) beam.PCollection {
	s = s.Scope("Sphere")
	c.Alloc = c.Alloc.OrDefault()
	patches := beam.ParDo(s, selectPatches, shards)
	var results beam.PCollection
	switch c.Alloc.Method {
	case alloc.MethodNone:
		results = beam.CreateList(s, []ShardResult{})
	case alloc.MethodOsmotic:
		return beam.ParDo(s, &osmoticFn{Config: c}, beam.Impulse(s), beam.SideInput{Input: patches}, beam.SideInput{Input: stats})
	default:
		results = beam.ParDo(s, &shardFn{Config: c}, patches, beam.SideInput{Input: stats})
	}
	return beam.ParDo(s, &commitFn{Config: c}, beam.Impulse(s), beam.SideInput{Input: results}, beam.SideInput{Input: stats})
}

func selectPatches(info record.ShardInfo, emit func(record.ShardInfo)) {
	if info.Table == schemas.PatchesDir {
		emit(info)
	}
}

// planFrom builds the plan from the stats side input (one value).
func planFrom(c alloc.Config, statsIter func(*waterfill.Stats) bool) (*alloc.Plan, error) {
	var st waterfill.Stats
	n := 0
	var one waterfill.Stats
	for statsIter(&one) {
		st = one
		n++
	}
	if n > 1 {
		return nil, fmt.Errorf("sphere: %d stats values, want at most 1", n)
	}
	if n == 0 { // empty corpus
		st.Alloc.Weighting = c.Weighting()
	}
	return alloc.NewPlan(c, st.Alloc)
}

var sphereShards = beam.NewCounter("bltpipe", "sphere_shards")

// shardFn writes the sphere shard of one patches shard. A bundle's shards
// are written concurrently, up to one per core: prism hands the whole
// PCollection to one bundle, and one shard after another made this pass
// (a read of five columns of every patches file) the tail of a GPU run.
// Results are emitted from the DoFn's own calls, oldest first.
type shardFn struct {
	Config Config

	plan    *alloc.Plan // from the side input, which is the same for every element
	slots   chan struct{}
	pending []chan shardDone
}

type shardDone struct {
	r   ShardResult
	err error
}

func (fn *shardFn) ProcessElement(ctx context.Context, info record.ShardInfo, statsIter func(*waterfill.Stats) bool, emit func(ShardResult)) error {
	if fn.plan == nil {
		pl, err := planFrom(fn.Config.Alloc, statsIter)
		if err != nil {
			return err
		}
		fn.plan = pl
	}
	if fn.slots == nil {
		fn.slots = make(chan struct{}, runtime.GOMAXPROCS(0))
	}
	rel := SphereName(info.Path)
	done := make(chan shardDone, 1)
	fn.pending = append(fn.pending, done)
	fn.slots <- struct{}{} // waits while every core has a shard
	go func() {
		defer func() { <-fn.slots }()
		r, err := AllocateShard(ctx, fn.plan, fsio.Join(fn.Config.Output, info.Path), fsio.Join(fn.Config.Output, rel), rel)
		done <- shardDone{r, err}
	}()
	return fn.emitDone(ctx, emit, false)
}

// FinishBundle waits for the bundle's shards (Beam requires the side input
// in its signature too).
func (fn *shardFn) FinishBundle(ctx context.Context, _ func(*waterfill.Stats) bool, emit func(ShardResult)) error {
	return fn.emitDone(ctx, emit, true)
}

// emitDone emits the finished shards at the head of pending, waiting for
// all of them when all is set.
func (fn *shardFn) emitDone(ctx context.Context, emit func(ShardResult), all bool) error {
	for len(fn.pending) > 0 {
		var d shardDone
		if all {
			d = <-fn.pending[0]
		} else {
			select {
			case d = <-fn.pending[0]:
			default:
				return nil
			}
		}
		fn.pending = fn.pending[1:]
		if d.err != nil {
			for _, p := range fn.pending { // let the others finish before failing
				<-p
			}
			fn.pending = nil
			return d.err
		}
		sphereShards.Inc(ctx, 1)
		emit(d.r)
	}
	return nil
}

// osmoticFn runs the osmotic allocation over every patches shard on one
// worker (the method needs all patches at once), then commits like
// commitFn, with the iteration's report in _SPHERE.json.
type osmoticFn struct {
	Config Config
}

func (fn *osmoticFn) ProcessElement(ctx context.Context, _ []byte, patchesIter func(*record.ShardInfo) bool, statsIter func(*waterfill.Stats) bool, emit func(record.ShardInfo)) error {
	pl, err := planFrom(fn.Config.Alloc, statsIter)
	if err != nil {
		return err
	}
	seen := map[string]bool{}
	var rel []string
	var info record.ShardInfo
	for patchesIter(&info) {
		if !seen[info.Path] {
			seen[info.Path] = true
			rel = append(rel, info.Path)
		}
	}
	sort.Strings(rel)
	results, rep, err := AllocateAll(ctx, pl, fn.Config.Output, rel, 1)
	if err != nil {
		return err
	}
	infos, _, err := commit(ctx, fn.Config.Output, pl, results, rep)
	if err != nil {
		return err
	}
	sphereShards.Inc(ctx, int64(len(infos)))
	for _, info := range infos {
		emit(info)
	}
	return nil
}

// commitFn writes _SPHERE.json and removes stale sphere shards once every
// shard is written, then emits the shards' infos.
type commitFn struct {
	Config Config
}

func (fn *commitFn) ProcessElement(ctx context.Context, _ []byte, resultsIter func(*ShardResult) bool, statsIter func(*waterfill.Stats) bool, emit func(record.ShardInfo)) error {
	var results []ShardResult
	var r ShardResult
	for resultsIter(&r) {
		results = append(results, r)
	}
	var pl *alloc.Plan
	if fn.Config.Alloc.Method != alloc.MethodNone {
		var err error
		if pl, err = planFrom(fn.Config.Alloc, statsIter); err != nil {
			return err
		}
	}
	infos, _, err := commit(ctx, fn.Config.Output, pl, results, nil)
	if err != nil {
		return err
	}
	for _, info := range infos {
		emit(info)
	}
	return nil
}
