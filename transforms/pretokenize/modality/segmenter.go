package modality

import (
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
	if hint != "" {
		return []pretokenize.Segment{{Modality: hint, Data: data}}, nil
	}
	src, err := Extract(name, data, s.Options)
	if err != nil {
		if s.Strict {
			return nil, err
		}
		return []pretokenize.Segment{{Modality: pretokenize.Classify(data), Data: data}}, nil
	}
	var out []pretokenize.Segment
	for _, f := range src.Flatten() {
		out = append(out, pretokenize.Segment{Modality: f.View.Modality, Data: f.View.Data})
	}
	if len(out) == 0 {
		if s.Strict {
			return nil, errNoViews(src)
		}
		return []pretokenize.Segment{{Modality: pretokenize.Classify(data), Data: data}}, nil
	}
	return out, nil
}

func errNoViews(src *Source) error {
	return fmt.Errorf("%s has no readable view; rejected members: %s", src.Kind, strings.Join(src.Rejects(), "; "))
}
