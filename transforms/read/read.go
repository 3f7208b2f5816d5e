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
	"fmt"
	"sort"
	"strings"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/log"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/bltpipe/bltpipe/transforms/fsio"
	"github.com/bltpipe/bltpipe/transforms/progress"
	"github.com/bltpipe/bltpipe/transforms/record"
)

func init() {
	register.DoFn3x1[context.Context, []byte, func(record.Split), error](&expandFn{})
	register.DoFn3x1[context.Context, record.Split, func(record.Document), error](&readSplitFn{})
	register.Emitter1[record.Split]()
	register.Emitter1[record.Document]()
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
// into splits and reads them. It returns a PCollection<record.Document>.
func Read(s beam.Scope, patterns []string, o Options) beam.PCollection {
	s = s.Scope("Read")
	splits := Splits(s, patterns, o)
	splits = beam.Reshuffle(s, splits)
	return beam.ParDo(s, &readSplitFn{Options: o}, splits)
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
	for _, p := range patterns {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		matched, err := fsio.Expand(ctx, p)
		if err != nil {
			return nil, err
		}
		if len(matched) == 0 {
			return nil, fmt.Errorf("input %q matches no files", p)
		}
		for _, f := range matched {
			if !seen[f] {
				seen[f] = true
				files = append(files, f)
			}
		}
	}
	if len(files) == 0 {
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
	switch format {
	case record.FormatParquet:
		n, err := rowGroups(ctx, path)
		if err != nil {
			return nil, err
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
		return []record.Split{{Path: path, Format: format, Start: 0, End: size}}, nil
	}
}

var (
	docsRead     = beam.NewCounter("bltpipe", "documents_read")
	bytesRead    = beam.NewCounter("bltpipe", "bytes_read")
	docsRejected = beam.NewCounter("bltpipe", "rejected")
	splitsRead   = beam.NewCounter("bltpipe", "splits")
)

// readSplitFn reads one split and emits its documents in order.
type readSplitFn struct {
	Options Options
}

func (fn *readSplitFn) ProcessElement(ctx context.Context, sp record.Split, emit func(record.Document)) error {
	splitsRead.Inc(ctx, 1)
	out := func(d record.Document) {
		d.Split, d.Ordinal, d.Source = sp.ID, sp.Ordinal, sp.Path
		docsRead.Inc(ctx, 1)
		bytesRead.Inc(ctx, int64(len(d.Data)))
		progress.Documents.Add(1)
		progress.Bytes.Add(int64(len(d.Data)))
		emit(d)
	}
	rejected := 0
	reject := func(reason string) {
		docsRejected.Inc(ctx, 1)
		progress.Rejected.Add(1)
		if rejected++; rejected <= 3 {
			log.Warnf(ctx, "%s: rejected a record: %s", sp.Key, reason)
		}
	}
	var err error
	switch sp.Format {
	case record.FormatParquet:
		err = readParquet(ctx, sp, fn.Options, out, reject)
	case record.FormatJSONL:
		err = readJSONL(ctx, sp, fn.Options, out, reject)
	default:
		err = readText(ctx, sp, fn.Options, out)
	}
	if err != nil {
		return fmt.Errorf("split %s (%s): %w", sp.ID, sp.Key, err)
	}
	return nil
}
