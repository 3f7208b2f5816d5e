// Package modality turns one source file into the documents the model reads.
//
// A view is a document: each source becomes one trunk (a [Source]); each way
// of reading it (its text, its pixels, its audio, its raw bytes) is a [View]
// whose Data is one byte stream for the model; a view's [Segment]s are
// leaves with byte ranges into that stream, a label and metadata. Archives
// hold nested sources ([Member]), one per member, recursively.
//
// The package owns format detection ([Detect]) and per-modality extraction
// ([Extract]); it is pure Go except for video (and Ogg audio), which go
// through the ffmpeg binary when it is on PATH. It registers the Segmenter
// "modality" with transforms/pretokenize, emitting one pretokenize.Segment
// per view, so the pipeline uses it as soon as the binary imports this
// package. It must not touch the pipeline's elements (transforms/record) or
// write the hypergraph sidecar: views of one source are exposed through
// [Source.Flatten] for whoever writes the same_source edges.
//
// Extraction is deterministic (same bytes and options, same output) and
// never panics: a panic inside a decoder is recovered and returned as an
// error wrapping [ErrPanic]. Errors are reject reasons, meant to be counted
// and reported, not retried.
package modality

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"runtime/debug"
	"sort"
	"strings"
)

// Segment is a leaf of a view: the bytes Data[Start:End] of its view, with a
// label ("paragraph", "func", "patch", "frame", "section", …) and metadata.
// Meta values are strings, ints, int64s, uint64s, float64s or bools.
type Segment struct {
	Label      string
	Start, End int // byte range in the view's Data, Start ≤ End
	Meta       map[string]any
}

// Len is the segment's length in bytes.
func (s Segment) Len() int { return s.End - s.Start }

// View is one way of reading a source; its Data is one document for the
// model. Segments are in order, do not overlap, and lie inside Data; for the
// text, code, executable and unknown-binary views they cover Data exactly.
type View struct {
	// Name: "text", "code", "pixels", "audio", "frames", "raw",
	// "image:<n>" (PDF images), …
	Name string
	// Modality is the pretokenize modality of Data: one of the Mod constants.
	Modality string
	Data     []byte
	Segments []Segment
	// Meta describes the whole view (image size and patch layout, sample
	// rate and channels, code language, …); may be nil.
	Meta map[string]any
}

// Source is one trunk: a detected file with its views and, for archives,
// its members.
type Source struct {
	Name    string // path or name given to Extract ("" if unknown)
	Kind    string // detected format, e.g. "png", "elf", "zip" (Format.Kind)
	Size    int64  // bytes of the source (of the member, for archive members)
	SHA256  string // hex sha256 of those bytes
	Views   []View
	Members []Member
}

// Member is an entry of an archive. Exactly one of Source and Reject is set.
type Member struct {
	Path   string  // path inside the archive, slash-separated
	Source *Source // the member extracted recursively
	Reject string  // why the member was left out
}

// Limits bound the work and memory of one Extract call (all members
// included). Zero fields take the defaults of [DefaultLimits].
type Limits struct {
	MaxDepth         int     // archive nesting (a member of a member of …)
	MaxMembers       int     // archive members in total
	MaxExpandedBytes int64   // decompressed bytes in total, all archives
	MaxRatio         float64 // decompressed bytes per compressed byte
	MaxPixels        int64   // width·height of one image
	MaxAudioSeconds  float64 // duration of one audio stream (also video)
}

// DefaultLimits are safe for untrusted input on a machine with a few GiB
// per worker.
var DefaultLimits = Limits{
	MaxDepth:         4,
	MaxMembers:       10000,
	MaxExpandedBytes: 1 << 30,
	MaxRatio:         200,
	MaxPixels:        64 << 20,
	MaxAudioSeconds:  3600,
}

func (l Limits) withDefaults() Limits {
	d := DefaultLimits
	if l.MaxDepth > 0 {
		d.MaxDepth = l.MaxDepth
	}
	if l.MaxMembers > 0 {
		d.MaxMembers = l.MaxMembers
	}
	if l.MaxExpandedBytes > 0 {
		d.MaxExpandedBytes = l.MaxExpandedBytes
	}
	if l.MaxRatio > 0 {
		d.MaxRatio = l.MaxRatio
	}
	if l.MaxPixels > 0 {
		d.MaxPixels = l.MaxPixels
	}
	if l.MaxAudioSeconds > 0 {
		d.MaxAudioSeconds = l.MaxAudioSeconds
	}
	return d
}

// PDF modes.
const (
	PDFText      = "text"      // one "text" view, a segment per page (default)
	PDFRaw       = "raw"       // the file's bytes as one "raw" view
	PDFMultiview = "multiview" // raw + text + one view per embedded image
)

// Options configure extraction. The zero value takes every default.
type Options struct {
	Limits Limits

	// ImagePatch is the side P of the square image patches (default 16).
	ImagePatch int
	// ImageMergeBits: consecutive patches merge while the merged segment's
	// byte-histogram entropy stays below this many bits (default 1.5;
	// negative disables merging).
	ImageMergeBits float64

	// AudioRate is the output sample rate in Hz (default 16000; negative
	// keeps the source rate). Resampling is linear interpolation.
	AudioRate int
	// AudioMono down-mixes to one channel (mean of the channels).
	AudioMono bool
	// AudioFrame is the number of samples (per channel) in one frame
	// segment (default 160, 10 ms at 16 kHz).
	AudioFrame int

	// PDFMode is PDFText (default), PDFRaw or PDFMultiview.
	PDFMode string

	// VideoEvery keeps every k-th video frame (default 10); VideoSize is
	// the side of the square frames (default 224).
	VideoEvery, VideoSize int
	// FFmpeg is the ffmpeg binary (default: "ffmpeg" looked up on PATH).
	FFmpeg string

	// ChunkSize is the segment size for unknown binaries and for gaps in
	// raw views longer than it (default 4096).
	ChunkSize int
}

func (o Options) withDefaults() Options {
	o.Limits = o.Limits.withDefaults()
	if o.ImagePatch <= 0 {
		o.ImagePatch = 16
	}
	if o.ImageMergeBits == 0 {
		o.ImageMergeBits = 1.5
	}
	if o.AudioRate == 0 {
		o.AudioRate = 16000
	}
	if o.AudioFrame <= 0 {
		o.AudioFrame = 160
	}
	if o.PDFMode == "" {
		o.PDFMode = PDFText
	}
	if o.VideoEvery <= 0 {
		o.VideoEvery = 10
	}
	if o.VideoSize <= 0 {
		o.VideoSize = 224
	}
	if o.FFmpeg == "" {
		o.FFmpeg = "ffmpeg"
	}
	if o.ChunkSize <= 0 {
		o.ChunkSize = 4096
	}
	return o
}

// ErrPanic marks an error recovered from a panic in a decoder: a bug to
// report (with the input), but still a reject reason for the pipeline.
var ErrPanic = errors.New("modality: decoder panicked")

// Extract detects the format of data (name is a path or file name, used for
// its extension; may be "") and extracts its views. The returned error is a
// reject reason for the whole source; rejected archive members are reported
// in Member.Reject instead.
func Extract(name string, data []byte, o Options) (src *Source, err error) {
	o = o.withDefaults()
	st := &state{o: o, root: int64(len(data))}
	return st.extract(name, data, 0)
}

// ExtractAs is Extract with the format given rather than detected.
func ExtractAs(f Format, name string, data []byte, o Options) (*Source, error) {
	o = o.withDefaults()
	st := &state{o: o, root: int64(len(data))}
	return st.extractFormat(f, name, data, 0)
}

// state is shared by one Extract call and all its members.
type state struct {
	o        Options
	root     int64 // size of the outermost input
	expanded int64 // decompressed bytes so far
	members  int
}

func (st *state) extract(name string, data []byte, depth int) (*Source, error) {
	return st.extractFormat(Detect(name, data), name, data, depth)
}

func (st *state) extractFormat(f Format, name string, data []byte, depth int) (src *Source, err error) {
	defer func() {
		if r := recover(); r != nil {
			src = nil
			err = fmt.Errorf("%w: %s %q: %v\n%s", ErrPanic, f.Kind, name, r, firstFrames(debug.Stack()))
		}
	}()
	src = &Source{Name: name, Kind: f.Kind, Size: int64(len(data)), SHA256: sha256Hex(data)}
	switch f.Modality {
	case ModText:
		err = extractText(src, data)
	case ModCode:
		err = extractCode(src, f.Kind, data)
	case ModImage:
		err = extractImage(src, data, st.o)
	case ModAudio:
		err = extractAudio(src, f.Kind, data, st.o)
	case ModDocument:
		err = extractPDF(src, data, st.o)
	case ModVideo:
		err = extractVideo(src, data, st.o)
	case ModExecutable:
		err = extractExecutable(src, f.Kind, data, st.o)
	case ModArchive:
		err = st.extractArchive(src, f.Kind, name, data, depth)
	default:
		src.Views = []View{rawView(data, st.o.ChunkSize, nil)}
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", f.Kind, err)
	}
	return src, nil
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// firstFrames keeps a panic's stack short enough for a reject reason.
func firstFrames(stack []byte) string {
	lines := strings.Split(string(stack), "\n")
	if len(lines) > 24 {
		lines = lines[:24]
	}
	return strings.Join(lines, "\n")
}

// Flat is one view of a (possibly nested) source in document order.
type Flat struct {
	Path string // member path from the root, "/"-joined across nesting; "" for the root
	Kind string // the source's format
	View *View
}

// Flatten lists every view of s and its members, depth first in member
// order: s's own views, then each member's. Views with the same Path belong
// to one trunk (same_source edges link them).
func (s *Source) Flatten() []Flat {
	var out []Flat
	var walk func(prefix string, s *Source)
	walk = func(prefix string, s *Source) {
		for i := range s.Views {
			out = append(out, Flat{Path: prefix, Kind: s.Kind, View: &s.Views[i]})
		}
		for _, m := range s.Members {
			if m.Source == nil {
				continue
			}
			p := m.Path
			if prefix != "" {
				p = prefix + "/" + m.Path
			}
			walk(p, m.Source)
		}
	}
	walk("", s)
	return out
}

// Rejects lists the rejected members of s and its members as
// "path: reason", sorted.
func (s *Source) Rejects() []string {
	var out []string
	var walk func(prefix string, s *Source)
	walk = func(prefix string, s *Source) {
		for _, m := range s.Members {
			p := m.Path
			if prefix != "" {
				p = prefix + "/" + m.Path
			}
			if m.Source == nil {
				out = append(out, p+": "+m.Reject)
				continue
			}
			walk(p, m.Source)
		}
	}
	walk("", s)
	sort.Strings(out)
	return out
}
