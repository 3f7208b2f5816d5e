// Package read is the pipeline's source: it expands input globs into splits
// (whole files, JSONL byte ranges, Parquet row-group ranges), reshuffles the
// splits so workers share them, and reads each split into documents.
//
// It owns input formats and document identity (doc_id, text field, kept
// columns); it must not look at document contents beyond locating them
// (modality is the pretokenize stage's job).
//
// Determinism: the split list is sorted and numbered before the reshuffle,
// and a split always yields the same documents in the same order, so output
// shard names and contents do not depend on the runner or on bundling.
package read

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"sort"
	"strings"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/log"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/bltpipe/bltpipe/schemas"
	"github.com/bltpipe/bltpipe/transforms/fsio"
	"github.com/bltpipe/bltpipe/transforms/progress"
	"github.com/bltpipe/bltpipe/transforms/record"
	"github.com/bltpipe/bltpipe/transforms/reject"
	"github.com/bltpipe/bltpipe/transforms/resume"
)

func init() {
	register.DoFn3x1[context.Context, []byte, func(record.Split), error](&expandFn{})
	register.DoFn4x1[context.Context, record.Split, func(record.Document), func(record.Tally), error](&readSplitFn{})
	register.Emitter1[record.Split]()
	register.Emitter1[record.Document]()
	register.Emitter1[record.Tally]()
}

// DefaultIDFields is Meta's order for choosing a document id
// (bytelatent preprocess: sample_id, title, qid, paper_id, path, url, id).
var DefaultIDFields = []string{"sample_id", "title", "qid", "paper_id", "path", "url", "id"}

// DefaultTextFields are tried in order for the document text.
var DefaultTextFields = []string{"text", "content"}

// Options configure reading. The zero value reads with the defaults.
type Options struct {
	// IDField names the id field/column; empty means the first of
	// DefaultIDFields present in the record.
	IDField string
	// TextField names the text field/column; empty means "text" then "content".
	TextField string
	// Keep lists metadata fields/columns carried into the documents table.
	Keep []string
	// JSONLSplitBytes is the size of a JSONL byte-range split (uncompressed
	// files only); 0 means 64 MiB.
	JSONLSplitBytes int64
	// RowGroupsPerSplit is how many Parquet row groups one split reads; 0 means 1.
	RowGroupsPerSplit int64
	// Limits on what one input unit may make the reader hold; 0 means the
	// default. A line, row, file or row group over its limit becomes a
	// reject (rejects/) and is never held whole in memory.
	MaxLineBytes int64 // a JSONL line (default DefaultMaxLineBytes)
	MaxRowBytes  int64 // a Parquet row: text, id and kept values (default DefaultMaxRowBytes)
	MaxFileBytes int64 // a whole-file document, and a Parquet row group uncompressed (default DefaultMaxFileBytes)
	// Ledger is the run's resume ledger id (transforms/resume): each
	// split's tally is also noted there for the writer's completion
	// record. "" notes nothing.
	Ledger string
}

// Default limits of the read stage.
const (
	DefaultMaxLineBytes = 64 << 20
	DefaultMaxRowBytes  = 64 << 20
	DefaultMaxFileBytes = 1 << 30
)

func (o Options) maxLineBytes() int64 { return orDefault(o.MaxLineBytes, DefaultMaxLineBytes) }
func (o Options) maxRowBytes() int64  { return orDefault(o.MaxRowBytes, DefaultMaxRowBytes) }
func (o Options) maxFileBytes() int64 { return orDefault(o.MaxFileBytes, DefaultMaxFileBytes) }

func orDefault(v, d int64) int64 {
	if v > 0 {
		return v
	}
	return d
}

func (o Options) jsonlSplitBytes() int64 {
	if o.JSONLSplitBytes > 0 {
		return o.JSONLSplitBytes
	}
	return 64 << 20
}

func (o Options) rowGroupsPerSplit() int64 {
	if o.RowGroupsPerSplit > 0 {
		return o.RowGroupsPerSplit
	}
	return 1
}

// Read expands the patterns (globs, directories or files; local or gs://)
// into splits and reads them. It returns a PCollection<record.Document>;
// rejected records and refused files are elements too (Document.Rejected).
func Read(s beam.Scope, patterns []string, o Options) beam.PCollection {
	docs, _ := ReadTallied(s, patterns, o)
	return docs
}

// ReadTallied is Read that also returns the PCollection<record.Tally> of
// records seen, one per split (documents and rejects it emitted).
func ReadTallied(s beam.Scope, patterns []string, o Options) (docs, tallies beam.PCollection) {
	s = s.Scope("Read")
	splits := Splits(s, patterns, o)
	splits = beam.Reshuffle(s, splits)
	return beam.ParDo2(s, &readSplitFn{Options: o}, splits)
}

// ReadSplits reads splits (a PCollection<record.Split> from Splits, after
// a reshuffle) like ReadTallied, for pipelines that handle the split list
// themselves (resuming skips some).
func ReadSplits(s beam.Scope, splits beam.PCollection, o Options) (docs, tallies beam.PCollection) {
	return beam.ParDo2(s, &readSplitFn{Options: o}, splits)
}

// Splits returns the PCollection<record.Split> of the patterns, before the
// reshuffle (exposed for tests and for tools listing the work of a run).
func Splits(s beam.Scope, patterns []string, o Options) beam.PCollection {
	imp := beam.Impulse(s)
	return beam.ParDo(s, &expandFn{Patterns: patterns, Options: o}, imp)
}

// expandFn turns all patterns into the numbered split list. It runs once (on
// the impulse), so ordinals are global and deterministic.
type expandFn struct {
	Patterns []string
	Options  Options
}

func (fn *expandFn) ProcessElement(ctx context.Context, _ []byte, emit func(record.Split)) error {
	splits, err := Plan(ctx, fn.Patterns, fn.Options)
	if err != nil {
		return err
	}
	for _, sp := range splits {
		emit(sp)
	}
	return nil
}

// Plan expands patterns into the sorted, numbered list of splits. A pattern
// matching nothing is an error (a typo should not produce an empty corpus).
func Plan(ctx context.Context, patterns []string, o Options) ([]record.Split, error) {
	seen := map[string]bool{}
	var files []string
	var rejected []record.Split // refused files: one split each, yielding one reject
	for _, p := range patterns {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		matched, refused, err := fsio.ExpandChecked(ctx, p)
		if err != nil {
			return nil, err
		}
		for _, r := range refused {
			if !seen[r.Path] {
				seen[r.Path] = true
				rejected = append(rejected, record.Split{Path: r.Path, Format: record.FormatRejected, RejectClass: r.Class, RejectReason: r.Reason})
			}
		}
		if len(matched) == 0 && len(refused) == 0 {
			return nil, fmt.Errorf("input %q matches no files", p)
		}
		for _, f := range matched {
			if !seen[f] {
				seen[f] = true
				files = append(files, f)
			}
		}
	}
	if len(files) == 0 && len(rejected) == 0 {
		return nil, fmt.Errorf("no input files (give --input)")
	}
	sort.Strings(files)
	var out []record.Split
	for _, f := range files {
		ss, err := planFile(ctx, f, o)
		if err != nil {
			return nil, err
		}
		out = append(out, ss...)
	}
	out = append(out, rejected...)
	sort.SliceStable(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	for i := range out {
		out[i].Ordinal = int64(i)
		out[i].Key = splitKey(out[i])
		sum := sha256.Sum256([]byte(out[i].Key))
		out[i].ID = fmt.Sprintf("part-%05d-%s", i, hex.EncodeToString(sum[:4]))
	}
	return out, nil
}

func splitKey(sp record.Split) string {
	return fmt.Sprintf("%s#%s[%d,%d)", sp.Path, sp.Format, sp.Start, sp.End)
}

// FormatOf classifies a file by name: *.parquet → Parquet; *.jsonl, *.ndjson,
// *.json (one object per line) with optional .gz/.zst → JSONL; anything else
// is one document per file.
func FormatOf(path string) (format, compression string) {
	name := strings.ToLower(path)
	switch {
	case strings.HasSuffix(name, ".gz"):
		compression, name = "gzip", strings.TrimSuffix(name, ".gz")
	case strings.HasSuffix(name, ".zst"):
		compression, name = "zstd", strings.TrimSuffix(name, ".zst")
	}
	switch {
	case strings.HasSuffix(name, ".parquet") && compression == "":
		return record.FormatParquet, ""
	case strings.HasSuffix(name, ".jsonl"), strings.HasSuffix(name, ".ndjson"), strings.HasSuffix(name, ".json"):
		return record.FormatJSONL, compression
	}
	return record.FormatText, ""
}

func planFile(ctx context.Context, path string, o Options) ([]record.Split, error) {
	format, comp := FormatOf(path)
	refuse := func(class, reason string) []record.Split {
		return []record.Split{{Path: path, Format: record.FormatRejected, RejectClass: class, RejectReason: reason}}
	}
	switch format {
	case record.FormatParquet:
		n, err := rowGroups(ctx, path)
		if err != nil {
			// A file that is not Parquet is bad input, not a failed run.
			return refuse(classCorrupt, err.Error()), nil
		}
		var out []record.Split
		step := o.rowGroupsPerSplit()
		for start := int64(0); start < n; start += step {
			out = append(out, record.Split{Path: path, Format: format, Start: start, End: min(start+step, n)})
		}
		return out, nil
	case record.FormatJSONL:
		size, err := fsio.Size(ctx, path)
		if err != nil {
			return nil, err
		}
		if comp != "" || size == 0 {
			return []record.Split{{Path: path, Format: format, Compression: comp, Start: 0, End: size}}, nil
		}
		var out []record.Split
		step := o.jsonlSplitBytes()
		for start := int64(0); start < size; start += step {
			out = append(out, record.Split{Path: path, Format: format, Start: start, End: min(start+step, size)})
		}
		return out, nil
	default:
		size, err := fsio.Size(ctx, path)
		if err != nil {
			return nil, err
		}
		if size > o.maxFileBytes() {
			return refuse(classFileTooLarge, fmt.Sprintf("%d bytes, over --max-file-bytes %d", size, o.maxFileBytes())), nil
		}
		return []record.Split{{Path: path, Format: format, Start: 0, End: size}}, nil
	}
}

var (
	docsRead   = beam.NewCounter("bltpipe", "documents_read")
	bytesRead  = beam.NewCounter("bltpipe", "bytes_read")
	splitsRead = beam.NewCounter("bltpipe", "splits")
)

// Reject classes of the read stage (see transforms/reject).
const (
	classBadJSON      = reject.ClassBadJSON
	classNoText       = reject.ClassNoText
	classLineTooLong  = reject.ClassLineTooLong
	classRowTooLarge  = reject.ClassRowTooLarge
	classFileTooLarge = reject.ClassFileTooLarge
	classCorrupt      = reject.ClassCorrupt
	classIO           = reject.ClassIO
)

// rejectFn reports a record of the split that is left out: seq orders it
// among the split's records, id is its doc_id if known, input the
// offending bytes (only the head is kept), size their full length (-1 if
// unknown).
type rejectFn func(seq int64, id, class, message string, input []byte, size int64)

// readSplitFn reads one split and emits its documents and rejects in
// order, then one tally of the records it emitted. It never fails on bad
// input: a record, or the rest of a split that cannot be read, becomes a
// reject; a panic in a decoder too.
type readSplitFn struct {
	Options Options
}

func (fn *readSplitFn) ProcessElement(ctx context.Context, sp record.Split, emit func(record.Document), tally func(record.Tally)) (err error) {
	splitsRead.Inc(ctx, 1)
	var seen int64
	out := func(d record.Document) {
		d.Split, d.Ordinal, d.Source = sp.ID, sp.Ordinal, sp.Path
		seen++
		docsRead.Inc(ctx, 1)
		bytesRead.Inc(ctx, int64(len(d.Data)))
		progress.Documents.Add(1)
		progress.Bytes.Add(int64(len(d.Data)))
		emit(d)
	}
	rejected := 0
	rej := func(seq int64, id, class, message string, input []byte, size int64) {
		seen++
		reject.Count(ctx, schemas.StageRead)
		if rejected++; rejected <= 3 {
			log.Warnf(ctx, "%s: rejected a record: %s", reject.Printable(sp.Key), reject.Printable(message))
		}
		emit(record.Document{Split: sp.ID, Ordinal: sp.Ordinal, Source: sp.Path, Seq: seq, ID: id,
			Reject: reject.New(schemas.StageRead, class, message, input, size)})
	}
	defer func() {
		if r := recover(); r != nil {
			rej(math.MaxInt64, "", reject.ClassPanic, fmt.Sprintf("reader panicked (rest of split %s dropped): %v", sp.Key, r), nil, -1)
			err = nil
		}
		if err == nil {
			t := record.Tally{Split: sp.ID, Stage: schemas.StageRead, Seen: seen}
			if seen == 0 {
				resume.Forget(fn.Options.Ledger, sp.ID) // the writer never sees this split
			} else {
				resume.NoteTally(fn.Options.Ledger, t)
			}
			tally(t)
		}
	}()
	switch sp.Format {
	case record.FormatRejected:
		rej(0, "", sp.RejectClass, sp.RejectReason, nil, -1)
	case record.FormatParquet:
		err = readParquet(ctx, sp, fn.Options, out, rej)
	case record.FormatJSONL:
		err = readJSONL(ctx, sp, fn.Options, out, rej)
	default:
		err = readText(ctx, sp, fn.Options, out, rej)
	}
	if err != nil {
		// The split's container failed part-way (truncated gzip, corrupt
		// page, vanished file): what was read stays, the rest is one reject.
		rej(math.MaxInt64, "", classOf(err), fmt.Sprintf("rest of split unreadable: %v", err), nil, -1)
		err = nil
	}
	return nil
}

// classOf classifies a split-level read error: the file system's errors
// (permission, vanished file) are "io", the rest "corrupt".
func classOf(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return classIO
	}
	return classCorrupt
}
