package resume

import (
	"context"
	"reflect"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/log"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/bltpipe/bltpipe/transforms/fsio"
	"github.com/bltpipe/bltpipe/transforms/progress"
	"github.com/bltpipe/bltpipe/transforms/record"
	"github.com/bltpipe/bltpipe/transforms/waterfill"
)

func init() {
	beam.RegisterType(reflect.TypeOf((*Config)(nil)).Elem())
	register.DoFn6x1[context.Context, record.Split, func(record.Split), func(record.ShardInfo), func(record.Tally), func(waterfill.Partial), error](&checkFn{})
	register.Emitter1[record.Split]()
	register.Emitter1[record.ShardInfo]()
	register.Emitter1[record.Tally]()
	register.Emitter1[waterfill.Partial]()
}

var (
	splitsResumed = beam.NewCounter("bltpipe", "splits_resumed")
	splitsRedone  = beam.NewCounter("bltpipe", "splits_redone")
)

// Check sorts the splits (PCollection<record.Split>, after the reshuffle)
// into those to process, returned as todo for the read stage, and those a
// previous run into c.Output finished: for these it returns their files
// (PCollection<record.ShardInfo>), tallies (PCollection<record.Tally>) and
// statistics partials (PCollection<waterfill.Partial>), to be flattened
// with the writer's, the stages' and the waterfill partials. It also notes
// every split it passes on in the ledger, for the writer's record.
func Check(s beam.Scope, splits beam.PCollection, c Config) (todo, shards, tallies, partials beam.PCollection) {
	s = s.Scope("Resume")
	outs := beam.ParDoN(s, &checkFn{Config: c}, splits)
	return outs[0], outs[1], outs[2], outs[3]
}

type checkFn struct {
	Config Config
}

func (fn *checkFn) ProcessElement(ctx context.Context, sp record.Split, todo func(record.Split), shard func(record.ShardInfo), tally func(record.Tally), partial func(waterfill.Partial)) error {
	c := fn.Config
	in, inErr := InputOf(ctx, sp)
	switch {
	case inErr != nil:
		// Redone, and without a record: delete any old one.
		log.Warnf(ctx, "resume: %s: %v; redone, without a completion record", sp.ID, inErr)
		if err := fsio.Remove(ctx, Path(c.Output, sp.ID)); err != nil {
			return err
		}
		todo(sp)
		return nil
	case c.Overwrite:
		if err := fsio.Remove(ctx, Path(c.Output, sp.ID)); err != nil {
			return err
		}
	default:
		rec, exists, why := Load(ctx, c, sp, in)
		if rec != nil {
			splitsResumed.Inc(ctx, 1)
			progress.Resumed.Add(1)
			if sp.Format != record.FormatParquet && sp.Format != record.FormatRejected {
				// Bytes this run will not read: keep the progress ETA true.
				progress.PlannedBytes.Add(sp.Start - sp.End)
			}
			log.Debugf(ctx, "resume: %s (%s) already finished, skipped", sp.ID, printable(sp.Key))
			for _, s := range rec.Shards {
				shard(s)
			}
			for _, t := range rec.Tallies {
				tally(record.Tally{Split: sp.ID, Stage: t.Stage, Seen: t.Seen})
			}
			if rec.Stats != nil {
				partial(*rec.Stats)
			}
			return nil
		}
		if exists {
			// Delete the record before the split's files are rewritten: a
			// run interrupted while redoing the split must not find it.
			splitsRedone.Inc(ctx, 1)
			log.Infof(ctx, "resume: %s (%s) redone: %s", sp.ID, printable(sp.Key), printable(why))
			if err := fsio.Remove(ctx, Path(c.Output, sp.ID)); err != nil {
				return err
			}
		}
	}
	notePlan(c.Ledger, sp, in)
	todo(sp)
	return nil
}
