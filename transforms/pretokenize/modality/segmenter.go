package modality

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/bltpipe/bltpipe/transforms/pretokenize"
)

func init() {
	pretokenize.Register("modality", Segmenter{})
}

// Segmenter adapts Extract to pretokenize.Segmenter: one
// pretokenize.Segment per view (View.Modality, View.Data) in Flatten order,
// so each view becomes its own document. It is safe for concurrent use and
// deterministic.
//
// A document the reader already typed (hint != "", e.g. "text" for a JSONL
// field) is kept whole with that modality. A source Extract rejects, or
// one with no view left (an archive whose members were all rejected), falls
// back to the basic rule (one "text" or "bytes" segment of the original
// bytes), unless Strict is set, in which case the reject reason is
// returned as the error.
//
// SegmentSource is the pipeline's entry point: besides the views it
// reports the trunk chain of each view (input file → archive members), the
// view's segments as leaves, and reject reasons, which the pretokenize
// stage counts and records. Configure gives a copy with per-run Options.
type Segmenter struct {
	Options Options
	Strict  bool
}

// Segment implements pretokenize.Segmenter. The file name is unknown here,
// so detection uses magic bytes and content only; SegmentNamed adds the
// extension.
func (s Segmenter) Segment(data []byte, hint string) ([]pretokenize.Segment, error) {
	return s.SegmentNamed("", data, hint)
}

// SegmentNamed is Segment with the source's path or name, whose extension
// helps detection (code languages, damaged media).
func (s Segmenter) SegmentNamed(name string, data []byte, hint string) ([]pretokenize.Segment, error) {
	r, err := s.SegmentSource(name, data, hint)
	return r.Segments, err
}

// SegmentSource implements pretokenize.SegmentSource. Without Strict a
// reject is reported in Result.Reject (Bug set for a recovered decoder
// panic, see ErrPanic) next to the fallback segment; with Strict it is the
// returned error.
func (s Segmenter) SegmentSource(name string, data []byte, hint string) (pretokenize.Result, error) {
	if hint != "" {
		return pretokenize.Result{Segments: []pretokenize.Segment{{Modality: hint, Data: data}}}, nil
	}
	src, err := Extract(name, data, s.Options)
	var r pretokenize.Result
	if err == nil {
		r.Segments = segments(src)
		r.MemberRejects = src.Rejects()
		if len(r.Segments) == 0 {
			err = errNoViews(src)
		}
	}
	if err != nil {
		if s.Strict {
			return pretokenize.Result{}, err
		}
		r.Reject, r.Bug = err, errors.Is(err, ErrPanic)
		f := Detect(name, data)
		r.Segments = []pretokenize.Segment{fallback(f.Kind, data)}
	}
	return r, nil
}

// fallback is the basic reading of a rejected source: the whole input as
// one "text" or "bytes" view, chunked like an unknown binary.
func fallback(kind string, data []byte) pretokenize.Segment {
	m := pretokenize.Classify(data)
	sg := pretokenize.Segment{Modality: m, Data: data, View: "fallback",
		Trunks: []pretokenize.Trunk{{Kind: kind, Size: int64(len(data)), SHA256: sha256Hex(data)}}}
	const chunk = 4096
	for off := 0; off < len(data); off += chunk {
		sg.Leaves = append(sg.Leaves, pretokenize.Leaf{Label: "chunk", Start: off, End: min(off+chunk, len(data))})
	}
	return sg
}

// segments lists every view of src and its members (Flatten's order) with
// the chain of trunks from the input file to the view's source.
func segments(src *Source) []pretokenize.Segment {
	var out []pretokenize.Segment
	var walk func(chain []pretokenize.Trunk, prefix string, s *Source)
	walk = func(chain []pretokenize.Trunk, prefix string, s *Source) {
		chain = append(chain[:len(chain):len(chain)], pretokenize.Trunk{Member: prefix, Kind: s.Kind, Size: s.Size, SHA256: s.SHA256})
		for i := range s.Views {
			v := &s.Views[i]
			sg := pretokenize.Segment{Modality: v.Modality, Data: v.Data, View: v.Name, ViewMeta: v.Meta, Trunks: chain}
			for _, l := range v.Segments {
				sg.Leaves = append(sg.Leaves, pretokenize.Leaf{Label: l.Label, Start: l.Start, End: l.End, Meta: l.Meta})
			}
			out = append(out, sg)
		}
		for _, m := range s.Members {
			if m.Source == nil {
				continue
			}
			p := m.Path
			if prefix != "" {
				p = prefix + "/" + m.Path
			}
			walk(chain, p, m.Source)
		}
	}
	walk(nil, "", src)
	return out
}

// Configure implements pretokenize.Configurable: config is Options as JSON
// (field names as in Go), validated.
func (s Segmenter) Configure(config string) (pretokenize.Segmenter, error) {
	var o Options
	dec := json.NewDecoder(strings.NewReader(config))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&o); err != nil {
		return nil, fmt.Errorf("modality options %s: %w", config, err)
	}
	if err := o.Validate(); err != nil {
		return nil, err
	}
	s.Options = o
	return s, nil
}

// Validate checks option values (zero values take defaults).
func (o Options) Validate() error {
	switch o.PDFMode {
	case "", PDFText, PDFRaw, PDFMultiview:
	default:
		return fmt.Errorf("PDF mode %q: want %s, %s or %s", o.PDFMode, PDFText, PDFRaw, PDFMultiview)
	}
	l := o.Limits
	switch {
	case o.ImagePatch < 0, o.AudioFrame < 0, o.VideoEvery < 0, o.VideoSize < 0, o.ChunkSize < 0:
		return fmt.Errorf("image patch, audio frame, video every/size and chunk size must be ≥ 0 (0 = default)")
	case l.MaxDepth < 0, l.MaxMembers < 0, l.MaxExpandedBytes < 0, l.MaxRatio < 0, l.MaxPixels < 0, l.MaxAudioSeconds < 0:
		return fmt.Errorf("limits must be ≥ 0 (0 = default): %+v", l)
	}
	return nil
}

// Config returns the options as the JSON that Configure reads.
func (o Options) Config() (string, error) {
	if err := o.Validate(); err != nil {
		return "", err
	}
	b, err := json.Marshal(o)
	return string(b), err
}

func errNoViews(src *Source) error {
	return fmt.Errorf("%s has no readable view; rejected members: %s", src.Kind, strings.Join(src.Rejects(), "; "))
}
