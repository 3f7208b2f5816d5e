// Package embed owns patch-level records: it turns a scored document into
// per-patch summaries (Embed: byte ranges, entropy and prominence
// statistics, and the patch's pooled vector, which the patch stage's scorer
// averaged on its device, see modelio.Cut).
//
// It must not run the model or touch storage.
package embed

import (
	"context"
	"fmt"
	"math"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/bltpipe/bltpipe/schemas"
	"github.com/bltpipe/bltpipe/transforms/record"
)

func init() {
	register.DoFn2x2[context.Context, record.Scored, record.Scored, error](&embedFn{})
}

var patchesOut = beam.NewCounter("bltpipe", "patches")

// Embed fills Patches of every scored document: one record.Patch per entry
// of PatchLengths with its token and byte range, entropy and prominence
// summaries, and (when the patch stage pooled them) its embedding. It runs
// fused after the patch stage, so no vector is shuffled.
func Embed(s beam.Scope, scored beam.PCollection) beam.PCollection {
	s = s.Scope("Embed")
	return beam.ParDo(s, &embedFn{}, scored)
}

type embedFn struct{}

func (fn *embedFn) ProcessElement(ctx context.Context, sc record.Scored) (record.Scored, error) {
	if sc.Doc.Rejected() {
		return sc, nil // a reject passes on to the writer's rejects/
	}
	if err := Summarise(&sc); err != nil {
		return sc, fmt.Errorf("document %q: %w", sc.Doc.ID, err)
	}
	patchesOut.Inc(ctx, int64(len(sc.Patches)))
	return sc, nil
}

// Summarise computes sc.Patches from the per-token arrays and patch
// lengths, moving the pooled vectors (if any) into the patches.
func Summarise(sc *record.Scored) error {
	n := len(sc.Doc.Data)
	tokens := n + 2
	free := sc.ModelFree()
	if !free && (len(sc.Entropies) != tokens || len(sc.Prominence) != tokens) {
		return fmt.Errorf("%d entropies and %d prominence values for %d tokens", len(sc.Entropies), len(sc.Prominence), tokens)
	}
	dim := int(sc.Dim)
	if sc.Pooled != nil && (dim < 1 || len(sc.Pooled) != len(sc.PatchLengths)*dim) {
		return fmt.Errorf("%d pooled values for %d patches of dim %d", len(sc.Pooled), len(sc.PatchLengths), dim)
	}
	sc.Patches = make([]record.Patch, len(sc.PatchLengths))
	start := 0
	for i, l := range sc.PatchLengths {
		if l < 1 || start+int(l) > tokens {
			return fmt.Errorf("patch %d of length %d does not fit %d tokens", i, l, tokens)
		}
		off, bl := schemas.PatchBytes(start, int(l), n)
		p := record.Patch{TokenOffset: int32(start), Tokens: l, ByteOffset: int64(off), ByteLength: int64(bl)}
		if free {
			nan := float32(math.NaN())
			p.MeanEntropy, p.MaxEntropy, p.MeanProminence, p.MaxProminence = nan, nan, nan, nan
		} else {
			p.MeanEntropy, p.MaxEntropy = meanMax(sc.Entropies[start : start+int(l)])
			p.MeanProminence, p.MaxProminence = meanMax(sc.Prominence[start : start+int(l)])
		}
		if sc.Pooled != nil {
			p.Embedding = sc.Pooled[i*dim : (i+1)*dim : (i+1)*dim]
		}
		sc.Patches[i] = p
		start += int(l)
	}
	if start != tokens {
		return fmt.Errorf("patch lengths sum to %d, want %d tokens", start, tokens)
	}
	sc.Pooled = nil
	return nil
}

func meanMax(v []float32) (mean, mx float32) {
	sum := 0.0
	m := float32(math.Inf(-1))
	for _, x := range v {
		sum += float64(x)
		m = max(m, x)
	}
	return float32(sum / float64(len(v))), m
}
