// Package pretokenize decides what each document's bytes are (its
// modality) and which bytes the model reads. Text and raw bytes are handled
// here; richer formats (images, audio, PDF, …) plug in through Register: a
// Segmenter classifies a document and may cut it into segments of different
// modalities, each scored as its own document.
//
// The package transforms/pretokenize/modality registers a Segmenter named
// "modality" in its init; importing it (for side effects) in the binary is
// enough for Auto to pick it up. Tokenisation itself ([BOS, b+4…, EOS]) is
// the patch stage's, since tokens are a cheap function of the bytes and need
// not travel.
package pretokenize

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"path"
	"sort"
	"sync"
	"unicode/utf8"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/log"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/bltpipe/bltpipe/transforms/record"
)

func init() {
	register.DoFn3x1[context.Context, record.Document, func(record.Document), error](&pretokenizeFn{})
	register.Emitter1[record.Document]()
	Register(Basic, basicSegmenter{})
}

// Modalities assigned by the basic segmenter.
const (
	Text  = "text"  // valid UTF-8 without NUL bytes
	Bytes = "bytes" // anything else
)

// Segmenter names.
const (
	Basic = "basic" // text or bytes, never splits
	Auto  = ""      // "modality" when registered, else Basic
)

// Segment is a piece of a document with one modality. Data must be a
// sub-slice or copy of the document's bytes as the model should read them.
//
// The other fields are optional and place the piece in its source for the
// hypergraph sidecar (record.Origin): a Segment is one view of a trunk.
type Segment struct {
	Modality string
	Data     []byte
	View     string         // view name ("text", "pixels", "raw", …); "" if unnamed
	ViewMeta map[string]any // describes the view; JSON-encoded into the document
	// Trunks is the chain from the input file (Trunks[0]) to the archive
	// member this view reads; nil means the input file, hashed here.
	Trunks []Trunk
	Leaves []Leaf // the view's segments, in order, inside Data
}

// Trunk identifies one source: the input file or an archive member.
type Trunk struct {
	Member string // path inside the input file, "/"-joined across nesting; "" for the file
	Kind   string // detected format
	Size   int64
	SHA256 string // hex
}

// Leaf is a byte range [Start, End) of a view with a label and metadata
// (strings, numbers, bools).
type Leaf struct {
	Label      string
	Start, End int
	Meta       map[string]any
}

// Result is a SourceSegmenter's answer for one document.
type Result struct {
	Segments []Segment
	// Reject, when set, is why the source was rejected; Segments then hold
	// a fallback reading of the whole document (Classify), or are empty
	// to drop it.
	Reject error
	// Bug marks a Reject recovered from a panic in a decoder: a bug to
	// report with its input, not only a bad file.
	Bug bool
	// MemberRejects lists archive members left out as "path: reason".
	MemberRejects []string
}

// SourceSegmenter is optionally implemented by a Segmenter that reports
// reject reasons instead of failing or silently falling back; the stage
// counts and logs them and records them in the document's Origin.
type SourceSegmenter interface {
	SegmentSource(name string, data []byte, hint string) (Result, error)
}

// Configurable is optionally implemented by a Segmenter with per-run
// settings: Configure returns a copy configured from config (JSON, the
// Options of the pipeline stage), which must be validated here.
type Configurable interface {
	Configure(config string) (Segmenter, error)
}

// Segmenter classifies a document's bytes. It must be deterministic and
// safe for concurrent use. Returning one segment keeps the document whole;
// more segments become documents "<doc_id>#<k>" (k from 0). hint is the
// modality the reader already knows ("text" for JSONL/Parquet text fields),
// or "".
type Segmenter interface {
	Segment(data []byte, hint string) ([]Segment, error)
}

// NamedSegmenter is optionally implemented by a Segmenter that uses the
// source's name (its extension helps detection); the stage passes the
// input file's base name.
type NamedSegmenter interface {
	SegmentNamed(name string, data []byte, hint string) ([]Segment, error)
}

var (
	mu         sync.RWMutex
	segmenters = map[string]Segmenter{}
)

// Register makes a segmenter available by name. Call it from an init.
func Register(name string, s Segmenter) {
	mu.Lock()
	defer mu.Unlock()
	if _, dup := segmenters[name]; dup {
		panic("pretokenize: segmenter registered twice: " + name)
	}
	segmenters[name] = s
}

// Names lists the registered segmenters.
func Names() []string {
	mu.RLock()
	defer mu.RUnlock()
	var out []string
	for n := range segmenters {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Lookup resolves a segmenter name (Auto included).
func Lookup(name string) (Segmenter, string, error) {
	mu.RLock()
	defer mu.RUnlock()
	if name == Auto {
		if s, ok := segmenters["modality"]; ok {
			return s, "modality", nil
		}
		name = Basic
	}
	s, ok := segmenters[name]
	if !ok {
		return nil, "", fmt.Errorf("unknown segmenter %q (registered: %v)", name, Names())
	}
	return s, name, nil
}

// Classify is the basic rule: valid UTF-8 without NUL bytes is text,
// anything else is bytes.
func Classify(b []byte) string {
	for _, c := range b {
		if c == 0 {
			return Bytes
		}
	}
	if utf8.Valid(b) {
		return Text
	}
	return Bytes
}

type basicSegmenter struct{}

func (basicSegmenter) Segment(data []byte, hint string) ([]Segment, error) {
	m := hint
	if m == "" {
		m = Classify(data)
	}
	return []Segment{{Modality: m, Data: data}}, nil
}

// Pretokenize sets each document's Modality with the named segmenter
// (Auto for the default) and splits multi-segment documents.
func Pretokenize(s beam.Scope, docs beam.PCollection, segmenter string) beam.PCollection {
	return Apply(s, docs, Config{Segmenter: segmenter})
}

// Config configures the stage.
type Config struct {
	Segmenter string // name; Auto for the default
	// Options is the segmenter's per-run configuration (JSON), given to its
	// Configure method on every worker; "" keeps the registered defaults.
	Options string
}

// Configured resolves c to a segmenter, configured when c.Options is set.
func (c Config) Configured() (Segmenter, string, error) {
	s, name, err := Lookup(c.Segmenter)
	if err != nil || c.Options == "" {
		return s, name, err
	}
	cs, ok := s.(Configurable)
	if !ok {
		return nil, "", fmt.Errorf("segmenter %q takes no options (got %s)", name, c.Options)
	}
	if s, err = cs.Configure(c.Options); err != nil {
		return nil, "", fmt.Errorf("segmenter %q options: %w", name, err)
	}
	return s, name, nil
}

// Apply is Pretokenize with a Config: PCollection<record.Document> →
// PCollection<record.Document>, one document per view. Every document
// leaves with Modality and Origin set. A source the segmenter rejects (see
// SourceSegmenter) is counted ("modality_rejects", "modality_panics"),
// logged, and kept as its fallback reading with Origin.Reject set, so the
// sidecar records the reason on its trunk.
//
// Hook for a dead-letter output: the reject decision is made in
// (*pretokenizeFn).segment; routing Origin.Reject documents elsewhere is a
// filter on this stage's output.
func Apply(s beam.Scope, docs beam.PCollection, c Config) beam.PCollection {
	s = s.Scope("Pretokenize")
	return beam.ParDo(s, &pretokenizeFn{Segmenter: c.Segmenter, Options: c.Options}, docs)
}

var (
	segmentsOut   = beam.NewCounter("bltpipe", "segments")
	rejectsOut    = beam.NewCounter("bltpipe", "modality_rejects")
	panicsOut     = beam.NewCounter("bltpipe", "modality_panics")
	memberRejects = beam.NewCounter("bltpipe", "member_rejects")
)

type pretokenizeFn struct {
	Segmenter string
	Options   string

	seg Segmenter
}

func (fn *pretokenizeFn) Setup() error {
	s, _, err := Config{Segmenter: fn.Segmenter, Options: fn.Options}.Configured()
	fn.seg = s
	return err
}

// safeSegment is segment that never fails on the input: a segmenter's
// error or panic becomes Result.Reject (Bug for a panic) over the basic
// reading, so one bad input cannot crash the worker; the limits stage
// turns it into a reject.
func (fn *pretokenizeFn) safeSegment(d record.Document) (r Result, err error) {
	defer func() {
		if p := recover(); p != nil {
			r, err = Result{Reject: fmt.Errorf("segmenter panicked: %v", p), Bug: true}, nil
		}
		if err != nil {
			r, err = Result{Reject: err}, nil
		}
		if r.Reject != nil && len(r.Segments) == 0 {
			r.Segments = []Segment{{Modality: Classify(d.Data), Data: d.Data}}
		}
	}()
	return fn.segment(d)
}

// segment runs the segmenter in the richest form it implements.
func (fn *pretokenizeFn) segment(d record.Document) (Result, error) {
	name := path.Base(d.Source)
	if ss, ok := fn.seg.(SourceSegmenter); ok {
		return ss.SegmentSource(name, d.Data, d.Modality)
	}
	var r Result
	var err error
	if ns, ok := fn.seg.(NamedSegmenter); ok {
		r.Segments, err = ns.SegmentNamed(name, d.Data, d.Modality)
	} else {
		r.Segments, err = fn.seg.Segment(d.Data, d.Modality)
	}
	return r, err
}

func (fn *pretokenizeFn) ProcessElement(ctx context.Context, d record.Document, emit func(record.Document)) error {
	if d.Rejected() {
		emit(d) // a reject of an earlier stage, on its way to rejects/
		return nil
	}
	r, err := fn.safeSegment(d)
	if err != nil {
		return fmt.Errorf("segment document %q: %w", d.ID, err)
	}
	if r.Reject != nil {
		rejectsOut.Inc(ctx, 1)
		what := "rejected"
		if r.Bug {
			panicsOut.Inc(ctx, 1)
			what = "rejected (decoder panic: a bug, please report it with the file)"
		}
		log.Warnf(ctx, "pretokenize: %s %s: %v; kept as %d fallback document(s)", d.ID, what, r.Reject, len(r.Segments))
	}
	if len(r.MemberRejects) > 0 {
		memberRejects.Inc(ctx, int64(len(r.MemberRejects)))
		log.Warnf(ctx, "pretokenize: %s: %d archive member(s) left out, first: %s", d.ID, len(r.MemberRejects), r.MemberRejects[0])
	}
	var root *record.Trunk // the whole input file, hashed once if a segment needs it
	rootTrunk := func() []record.Trunk {
		if root == nil {
			sum := sha256.Sum256(d.Data)
			root = &record.Trunk{Kind: "", Size: int64(len(d.Data)), SHA256: hex.EncodeToString(sum[:])}
		}
		return []record.Trunk{*root}
	}
	if len(r.Segments) > 1 {
		segmentsOut.Inc(ctx, int64(len(r.Segments)))
	}
	for k, sg := range r.Segments {
		c := d
		if len(r.Segments) > 1 {
			c.ID = fmt.Sprintf("%s#%d", d.ID, k)
		}
		c.Modality, c.Data = sg.Modality, sg.Data
		o, err := origin(sg, int64(k))
		if err != nil {
			return fmt.Errorf("segment document %q view %d: %w", d.ID, k, err)
		}
		if o.Trunks == nil && d.Modality == "" {
			// A whole input file: its trunk is the file, hashed here.
			o.Trunks = rootTrunk()
			if o.View == "" {
				o.View = sg.Modality
			}
		}
		if r.Reject != nil {
			o.Reject = r.Reject.Error()
			o.RejectBug = r.Bug
		}
		if k == 0 {
			o.MemberRejects = r.MemberRejects
		}
		c.Origin = o
		emit(c)
	}
	return nil
}

// origin converts a segment's placement into the document's Origin,
// checking that its leaves lie inside the view in order.
func origin(sg Segment, k int64) (record.Origin, error) {
	o := record.Origin{View: sg.View, ViewIndex: k}
	for _, t := range sg.Trunks {
		o.Trunks = append(o.Trunks, record.Trunk{Member: t.Member, Kind: t.Kind, Size: t.Size, SHA256: t.SHA256})
	}
	var err error
	if o.ViewMeta, err = metaJSON(sg.ViewMeta); err != nil {
		return o, err
	}
	prev := 0
	for i, l := range sg.Leaves {
		if l.Start < prev || l.End < l.Start || l.End > len(sg.Data) {
			return o, fmt.Errorf("leaf %d [%d, %d) out of order or outside the view's %d bytes", i, l.Start, l.End, len(sg.Data))
		}
		prev = l.End
		m, err := metaJSON(l.Meta)
		if err != nil {
			return o, err
		}
		o.Segments = append(o.Segments, record.Span{Label: l.Label, Start: int64(l.Start), End: int64(l.End), Meta: m})
	}
	return o, nil
}

// metaJSON encodes metadata deterministically (encoding/json sorts map
// keys); nil or empty is "".
func metaJSON(m map[string]any) (string, error) {
	if len(m) == 0 {
		return "", nil
	}
	b, err := json.Marshal(m)
	if err != nil {
		return "", fmt.Errorf("metadata %v: %w", m, err)
	}
	return string(b), nil
}
