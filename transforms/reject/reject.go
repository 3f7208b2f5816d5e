// Package reject owns the dead-letter path: the reject elements every stage
// emits instead of failing (record.Document with Reject set), their
// counters, the rejects/ Parquet shard the writer streams them into, the
// --max-rejects budget and the accounting check documents + rejected = seen.
//
// A reject is a small element (no payload beyond the first
// schemas.RejectHeadBytes bytes of the offending input). It travels through
// the same fused per-split path as the documents, so the writer of a split
// writes its rejects too: no reject ever crosses a shuffle. Stages pass
// rejects on untouched (Document.Rejected).
//
// It must not decide what is bad: stages do, with a stage name and a class
// from this package's list so reports can group them.
package reject

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/bltpipe/bltpipe/schemas"
	"github.com/bltpipe/bltpipe/transforms/progress"
	"github.com/bltpipe/bltpipe/transforms/record"
)

// Error classes. A class is a stable, machine-readable word; the message
// says the rest.
const (
	ClassBadJSON       = "bad_json"       // a JSONL line that is not a JSON object
	ClassNoText        = "no_text"        // no (string) text field or column
	ClassLineTooLong   = "line_too_long"  // a JSONL line over --max-line-bytes
	ClassRowTooLarge   = "row_too_large"  // a Parquet row over --max-row-bytes, or an output row over it
	ClassFileTooLarge  = "file_too_large" // a file over --max-file-bytes
	ClassDocTooLarge   = "doc_too_large"  // a non-text document over --max-doc-bytes
	ClassCorrupt       = "corrupt"        // unreadable container (Parquet footer, gzip stream, …)
	ClassIO            = "io"             // the input could not be read
	ClassUnsafePath    = "unsafe_path"    // "..", absolute path, control characters in a name
	ClassSymlink       = "symlink"        // a link leaving the input root (or an archive link)
	ClassSpecialFile   = "special_file"   // device, FIFO, socket
	ClassDecode        = "decode"         // the modality decoder rejected the source
	ClassLimit         = "limit"          // a modality limit (depth, members, expansion, pixels, duration)
	ClassArchiveMember = "archive_member" // an archive member left out
	ClassPanic         = "panic"          // a decoder or stage panicked (a bug; the input is kept here)
	ClassPatch         = "patch"          // the patcher could not cut the document
)

// Head returns at most schemas.RejectHeadBytes bytes of b (a copy).
func Head(b []byte) []byte {
	if len(b) > schemas.RejectHeadBytes {
		b = b[:schemas.RejectHeadBytes]
	}
	return append([]byte(nil), b...)
}

// New returns a reject with the head of input; size is the input's full
// size in bytes (-1 if unknown).
func New(stage, class, message string, input []byte, size int64) record.Reject {
	return record.Reject{Stage: stage, Class: class, Message: Printable(message), Head: Head(input), Size: size}
}

// Of turns document d into a reject element: it keeps d's identity (split,
// ordinal, seq, id, source) and drops its payload. The head is d.Data's.
func Of(d record.Document, stage, class, message string) record.Document {
	r := New(stage, class, message, d.Data, int64(len(d.Data)))
	return record.Document{Split: d.Split, Ordinal: d.Ordinal, Seq: d.Seq, ID: d.ID, Source: d.Source, Modality: d.Modality, Reject: r}
}

// Printable returns s unchanged if it is valid UTF-8 without control
// characters, else its Go-quoted form, so names and messages are safe to
// print on a terminal and to store in a utf8 column.
func Printable(s string) string {
	if !utf8.ValidString(s) {
		return strconv.Quote(s)
	}
	for _, r := range s {
		if r != '\n' && r != '\t' && unicode.IsControl(r) {
			return strconv.Quote(s)
		}
	}
	return s
}

// HasControl reports whether a name holds control characters or invalid
// UTF-8 (such names are rejected as inputs).
func HasControl(name string) bool {
	if !utf8.ValidString(name) {
		return true
	}
	return strings.IndexFunc(name, unicode.IsControl) >= 0
}

var (
	total   = beam.NewCounter("bltpipe", "rejected")
	byStage = map[string]beam.Counter{}
)

func init() {
	for _, s := range schemas.RejectStages {
		byStage[s] = beam.NewCounter("bltpipe", "rejected_"+s)
	}
}

// Count increments the rejected counters (total and the stage's) for one
// reject element and the progress line.
func Count(ctx context.Context, stage string) {
	total.Inc(ctx, 1)
	if c, ok := byStage[stage]; ok {
		c.Inc(ctx, 1)
	}
	progress.Rejected.Add(1)
}

// Budget is the --max-rejects setting: a count, or a fraction of the
// documents seen.
type Budget struct {
	Count    int64   // used when !IsFraction
	Fraction float64 // in [0, 1], used when IsFraction
	// IsFraction selects Fraction.
	IsFraction bool
}

// DefaultBudget lets up to 10% of the documents seen be rejected.
var DefaultBudget = Budget{Fraction: 0.1, IsFraction: true}

// ParseBudget reads --max-rejects: an integer N (at most N rejects), a
// fraction "0.05" or a percentage "5%" of the documents seen.
func ParseBudget(s string) (Budget, error) {
	s = strings.TrimSpace(s)
	if p, ok := strings.CutSuffix(s, "%"); ok {
		f, err := strconv.ParseFloat(p, 64)
		if err != nil || !(f >= 0 && f <= 100) {
			return Budget{}, fmt.Errorf("--max-rejects %q: want N, a fraction in [0,1] or a percentage", s)
		}
		return Budget{Fraction: f / 100, IsFraction: true}, nil
	}
	if strings.ContainsAny(s, ".eE") {
		f, err := strconv.ParseFloat(s, 64)
		if err != nil || !(f >= 0 && f <= 1) {
			return Budget{}, fmt.Errorf("--max-rejects %q: a fraction must lie in [0,1]", s)
		}
		return Budget{Fraction: f, IsFraction: true}, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return Budget{}, fmt.Errorf("--max-rejects %q: want N ≥ 0, a fraction in [0,1] or a percentage", s)
	}
	return Budget{Count: n}, nil
}

// String formats the budget as ParseBudget reads it.
func (b Budget) String() string {
	if b.IsFraction {
		return strconv.FormatFloat(b.Fraction, 'g', -1, 64)
	}
	return strconv.FormatInt(b.Count, 10)
}

// Exceeded says whether rejected out of seen documents is over the budget,
// and why.
func (b Budget) Exceeded(rejected, seen int64) (bool, string) {
	if b.IsFraction {
		if seen > 0 && float64(rejected) > b.Fraction*float64(seen) {
			return true, fmt.Sprintf("%d of %d documents rejected (%.4g%%), over --max-rejects %s (%.4g%%)",
				rejected, seen, 100*float64(rejected)/float64(seen), b, 100*b.Fraction)
		}
		return false, ""
	}
	if rejected > b.Count {
		return true, fmt.Sprintf("%d of %d documents rejected, over --max-rejects %d", rejected, seen, b.Count)
	}
	return false, ""
}

// Accounting is the run's document balance, stored in the manifest.
type Accounting struct {
	Seen      int64            `json:"seen"`      // records read + pieces added by splitting stages
	Documents int64            `json:"documents"` // rows of documents/
	Rejected  int64            `json:"rejected"`  // rows of rejects/
	ByStage   map[string]int64 `json:"rejected_by_stage,omitempty"`
	// SeenByStage: "read" counts records, the others pieces added.
	SeenByStage map[string]int64 `json:"seen_by_stage,omitempty"`
}

// Check returns an error unless documents + rejected = seen.
func (a Accounting) Check() error {
	if a.Documents+a.Rejected != a.Seen {
		return fmt.Errorf("accounting: %d documents + %d rejected = %d, but %d documents were seen (%+v); a stage lost or invented elements",
			a.Documents, a.Rejected, a.Documents+a.Rejected, a.Seen, a.SeenByStage)
	}
	return nil
}

// String is the one-line form printed in the run summary.
func (a Accounting) String() string {
	ok := "ok"
	if a.Check() != nil {
		ok = "MISMATCH"
	}
	return fmt.Sprintf("%d documents + %d rejected = %d seen (%s)", a.Documents, a.Rejected, a.Seen, ok)
}
