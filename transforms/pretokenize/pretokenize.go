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
	"fmt"
	"path"
	"sort"
	"sync"
	"unicode/utf8"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
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
type Segment struct {
	Modality string
	Data     []byte
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
	s = s.Scope("Pretokenize")
	return beam.ParDo(s, &pretokenizeFn{Segmenter: segmenter}, docs)
}

var segmentsOut = beam.NewCounter("bltpipe", "segments")

type pretokenizeFn struct {
	Segmenter string

	seg Segmenter
}

func (fn *pretokenizeFn) Setup() error {
	s, _, err := Lookup(fn.Segmenter)
	fn.seg = s
	return err
}

func (fn *pretokenizeFn) ProcessElement(ctx context.Context, d record.Document, emit func(record.Document)) error {
	var segs []Segment
	var err error
	if ns, ok := fn.seg.(NamedSegmenter); ok {
		segs, err = ns.SegmentNamed(path.Base(d.Source), d.Data, d.Modality)
	} else {
		segs, err = fn.seg.Segment(d.Data, d.Modality)
	}
	if err != nil {
		return fmt.Errorf("segment document %q: %w", d.ID, err)
	}
	if len(segs) == 1 {
		d.Modality, d.Data = segs[0].Modality, segs[0].Data
		emit(d)
		return nil
	}
	segmentsOut.Inc(ctx, int64(len(segs)))
	for k, sg := range segs {
		c := d
		c.ID = fmt.Sprintf("%s#%d", d.ID, k)
		c.Modality, c.Data = sg.Modality, sg.Data
		emit(c)
	}
	return nil
}
