// Package limits is the stage between pretokenize and patch that enforces
// the per-document limits and turns the segmenter's verdicts into rejects:
//
//   - a document over MaxDocBytes is cut into windows of at most MaxDocBytes
//     at paragraph, then line, then UTF-8 boundaries when its modality is
//     text (ids "<doc_id>#w<k>", k from 0); any other modality is rejected;
//   - a source the segmenter rejected (Origin.Reject, e.g. a corrupt PNG or
//     an archive over a modality limit) becomes a reject instead of its
//     fallback reading, unless KeepFallback;
//   - every archive member the segmenter left out (Origin.MemberRejects:
//     "..", absolute paths, links, devices, limits) becomes a reject.
//
// It also tallies for the run's accounting (documents + rejected = seen)
// the elements the pretokenize stage added (a record read as k views counts
// k-1) and those it adds itself. It owns no format knowledge; the
// segmenter decides what is bad, this stage decides where it goes.
package limits

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/bltpipe/bltpipe/schemas"
	"github.com/bltpipe/bltpipe/transforms/record"
	"github.com/bltpipe/bltpipe/transforms/reject"
	"github.com/bltpipe/bltpipe/transforms/resume"
)

func init() {
	register.DoFn4x1[context.Context, record.Document, func(record.Document), func(record.Tally), error](&limitsFn{})
	register.Emitter1[record.Document]()
	register.Emitter1[record.Tally]()
}

// DefaultMaxDocBytes bounds one document the model reads (16 MiB: 16 Mi
// tokens, 128 MiB of per-token entropies and prominence in the output row).
const DefaultMaxDocBytes = 16 << 20

// Config configures the stage.
type Config struct {
	MaxDocBytes int64 // 0 means DefaultMaxDocBytes
	// KeepFallback keeps a rejected source's fallback reading (basic text
	// or bytes) as a document instead of rejecting it.
	KeepFallback bool
	// Ledger is the run's resume ledger id: the stage's tallies are also
	// noted there for the writer's completion record ("" notes nothing).
	Ledger string
}

func (c Config) maxDocBytes() int64 {
	if c.MaxDocBytes > 0 {
		return c.MaxDocBytes
	}
	return DefaultMaxDocBytes
}

var windowsOut = beam.NewCounter("bltpipe", "windows")

// Apply runs the stage: PCollection<record.Document> after pretokenize →
// (documents and rejects, PCollection<record.Tally>). Fused: no shuffle.
func Apply(s beam.Scope, docs beam.PCollection, c Config) (beam.PCollection, beam.PCollection) {
	s = s.Scope("Limits")
	return beam.ParDo2(s, &limitsFn{Config: c}, docs)
}

type limitsFn struct {
	Config Config

	// Per split: elements added by pretokenize (views beyond the first of a
	// record) and by this stage, reported when the split changes.
	split        string
	last         groupKey
	havePrev     bool
	addedPretok  int64
	addedLimits  int64
	splitPending bool
}

type groupKey struct {
	seq int64
	id  string
}

func (fn *limitsFn) StartBundle(_ context.Context, _ func(record.Document), _ func(record.Tally)) {
	fn.split, fn.splitPending, fn.havePrev = "", false, false
}

func (fn *limitsFn) flushTally(tally func(record.Tally)) {
	if fn.splitPending {
		for _, t := range []record.Tally{
			{Split: fn.split, Stage: schemas.StagePretokenize, Seen: fn.addedPretok},
			{Split: fn.split, Stage: schemas.StageLimits, Seen: fn.addedLimits},
		} {
			resume.NoteTally(fn.Config.Ledger, t)
			tally(t)
		}
	}
	fn.addedPretok, fn.addedLimits, fn.splitPending, fn.havePrev = 0, 0, false, false
}

func (fn *limitsFn) FinishBundle(_ context.Context, _ func(record.Document), tally func(record.Tally)) {
	fn.flushTally(tally)
}

// baseID strips the "#<k>" the pretokenize stage appends to the views of a
// multi-view record.
func baseID(d record.Document) string {
	if d.Origin.ViewIndex > 0 || strings.HasSuffix(d.ID, "#0") {
		if i := strings.LastIndexByte(d.ID, '#'); i >= 0 {
			return d.ID[:i]
		}
	}
	return d.ID
}

func (fn *limitsFn) ProcessElement(ctx context.Context, d record.Document, emit func(record.Document), tally func(record.Tally)) error {
	if d.Split != fn.split || !fn.splitPending {
		fn.flushTally(tally)
		fn.split, fn.splitPending = d.Split, true
	}
	if d.Rejected() {
		emit(d)
		return nil
	}
	// Views of one record arrive together with the same seq and base id.
	k := groupKey{d.Seq, baseID(d)}
	if fn.havePrev && k == fn.last {
		fn.addedPretok++
	}
	fn.last, fn.havePrev = k, true

	for _, m := range d.Origin.MemberRejects {
		path, why, _ := strings.Cut(m, ": ")
		r := record.Document{Split: d.Split, Ordinal: d.Ordinal, Seq: d.Seq, ID: baseID(d) + "!" + path, Source: d.Source,
			Reject: reject.New(schemas.StagePretokenize, memberClass(why), "archive member "+path+": "+why, nil, -1)}
		reject.Count(ctx, schemas.StagePretokenize)
		fn.addedLimits++
		emit(r)
	}
	if d.Origin.Reject != "" && !fn.Config.KeepFallback {
		class := reject.ClassDecode
		switch {
		case d.Origin.RejectBug:
			class = reject.ClassPanic
		case strings.Contains(d.Origin.Reject, "Limits."):
			class = reject.ClassLimit
		}
		reject.Count(ctx, schemas.StagePretokenize)
		emit(reject.Of(d, schemas.StagePretokenize, class, d.Origin.Reject))
		return nil
	}
	max := fn.Config.maxDocBytes()
	if int64(len(d.Data)) <= max {
		emit(d)
		return nil
	}
	if d.Modality != "text" {
		reject.Count(ctx, schemas.StageLimits)
		emit(reject.Of(d, schemas.StageLimits, reject.ClassDocTooLarge,
			fmt.Sprintf("%s document of %d bytes, over --max-doc-bytes %d (only text is cut into windows)", d.Modality, len(d.Data), max)))
		return nil
	}
	ws := Windows(d.Data, int(max))
	windowsOut.Inc(ctx, int64(len(ws)))
	fn.addedLimits += int64(len(ws) - 1)
	for i, w := range ws {
		c := d
		c.ID = fmt.Sprintf("%s#w%d", d.ID, i)
		c.Data = d.Data[w[0]:w[1]]
		c.Origin.Segments = clip(d.Origin.Segments, int64(w[0]), int64(w[1]))
		if i > 0 {
			c.Origin.MemberRejects = nil
		}
		emit(c)
	}
	return nil
}

// memberClass classifies an archive member's reject reason.
func memberClass(why string) string {
	w := strings.ToLower(why)
	switch {
	case strings.Contains(w, "..") || strings.Contains(w, "absolute") || strings.Contains(w, "unsafe"):
		return reject.ClassUnsafePath
	case strings.Contains(w, "link"):
		return reject.ClassSymlink
	case strings.Contains(w, "device") || strings.Contains(w, "fifo") || strings.Contains(w, "sparse"):
		return reject.ClassSpecialFile
	case strings.Contains(why, "Limits."):
		return reject.ClassLimit
	}
	return reject.ClassArchiveMember
}

// clip keeps the spans overlapping [lo, hi), clipped and shifted to the
// window.
func clip(spans []record.Span, lo, hi int64) []record.Span {
	var out []record.Span
	for _, s := range spans {
		if s.End <= lo || s.Start >= hi {
			if !(s.Start == s.End && s.Start == lo) {
				continue
			}
		}
		s.Start, s.End = max(s.Start, lo)-lo, min(s.End, hi)-lo
		out = append(out, s)
	}
	return out
}

// Windows cuts data into consecutive windows [start, end) of at most max
// bytes (max ≥ 4) that tile it exactly. A window ends after the last blank
// line ("\n\n") in its range if that leaves it at least half full, else
// after the last newline likewise, else at the last UTF-8 character
// boundary. Deterministic; windows are never empty.
func Windows(data []byte, max int) [][2]int {
	if max < 4 {
		max = 4
	}
	var out [][2]int
	for start := 0; start < len(data); {
		end := start + max
		if end >= len(data) {
			out = append(out, [2]int{start, len(data)})
			break
		}
		chunk := data[start:end]
		half := max / 2
		cut := -1
		if i := bytes.LastIndex(chunk, []byte("\n\n")); i >= 0 && i+2 >= half {
			cut = i + 2
		} else if i := bytes.LastIndexByte(chunk, '\n'); i >= 0 && i+1 >= half {
			cut = i + 1
		} else {
			cut = len(chunk)
			// Back up to a rune boundary (at most 3 bytes).
			for j := 0; j < utf8.UTFMax && cut > 1 && !utf8.RuneStart(data[start+cut]); j++ {
				cut--
			}
		}
		out = append(out, [2]int{start, start + cut})
		start += cut
	}
	return out
}
