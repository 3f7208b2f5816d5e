// Package write is the pipeline's sink. Go Beam has no WriteFiles, so it
// writes shards itself: every split's documents become
//
//	documents/<split>.parquet, patches/<split>.parquet,
//	hypergraph/<split>.hypergraph.db and, with a BLT Arrow name,
//	blt/<NAME>.shard_<ordinal>.arrow (+ .complete),
//
// each streamed to a temporary name and renamed into place when the split
// is done, then the split's completion record _splits/<split>.json
// (transforms/resume), which lets a rerun skip the split. Finalize then
// writes waterfill/_STATS.json, removes shards no longer produced (a rerun
// over changed input), records of splits no longer in the input and
// temporaries of failed attempts, and writes _MANIFEST.json last.
//
// Invariant relied on (and checked): a split's documents arrive contiguously
// in one bundle, because the read stage emits a whole split from one
// ProcessElement call and every stage up to here is fused (no shuffle). A
// retried bundle rewrites the same names with the same bytes.
package write

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/bltpipe/bltpipe/modelio"
	"github.com/bltpipe/bltpipe/schemas"
	"github.com/bltpipe/bltpipe/transforms/fsio"
	"github.com/bltpipe/bltpipe/transforms/progress"
	"github.com/bltpipe/bltpipe/transforms/record"
	"github.com/bltpipe/bltpipe/transforms/reject"
	"github.com/bltpipe/bltpipe/transforms/resume"
	"github.com/bltpipe/bltpipe/transforms/waterfill"
)

func init() {
	register.DoFn3x1[context.Context, record.Scored, func(record.ShardInfo), error](&writeFn{})
	register.DoFn7x1[context.Context, []byte, func(*record.ShardInfo) bool, func(*waterfill.Stats) bool, func(*record.Tally) bool, func(*record.Split) bool, func(string), error](&finalizeFn{})
	register.Iter1[record.Split]()
	register.Iter1[record.Tally]()
	register.Emitter1[record.ShardInfo]()
	register.Emitter1[string]()
	register.Iter1[record.ShardInfo]()
	register.Iter1[waterfill.Stats]()
}

// Run describes the run for the manifest and the sidecars' meta tables.
type Run struct {
	Tool        string   `json:"tool"`
	Version     string   `json:"version"`
	Inputs      []string `json:"inputs"`
	Model       Model    `json:"model"`
	Patcher     Patcher  `json:"patcher"`
	Embeddings  string   `json:"embeddings"`
	BLTArrow    string   `json:"blt_arrow,omitempty"`
	KeepColumns []string `json:"keep_columns,omitempty"`
	IDField     string   `json:"id_field,omitempty"`
	TextField   string   `json:"text_field,omitempty"`
	Segmenter   string   `json:"segmenter"`
	// SegmenterOptions are the segmenter's per-run options (JSON), if any.
	SegmenterOptions json.RawMessage `json:"segmenter_options,omitempty"`
	BatchTokens      int             `json:"batch_tokens"`
}

// Model is the model's identity.
// With --model none, Dir is "none" and the other fields are absent.
type Model struct {
	Dir           string          `json:"dir"`
	Config        *modelio.Config `json:"config,omitempty"`
	WeightsSHA256 string          `json:"weights_sha256,omitempty"`
	DType         string          `json:"dtype,omitempty"`
}

// Patcher records the patching parameters.
type Patcher struct {
	Mode           string   `json:"mode"`
	Threshold      float64  `json:"threshold"`
	Monotonic      bool     `json:"monotonic"`
	ThresholdAdd   *float64 `json:"threshold_add"`
	PatchSize      int      `json:"patch_size"`
	MaxPatchLength int      `json:"max_patch_length"`
	// SegmentStartsPatch: every segment's first token starts a patch.
	SegmentStartsPatch bool `json:"segment_starts_patch,omitempty"`
}

// Config configures the sink.
type Config struct {
	Output     string // directory: local path or gs://bucket/prefix
	Keep       []string
	Embeddings bool
	BLTArrow   string // NAME for blt/NAME.shard_K.arrow; empty: no BLT Arrow output
	Run        Run
	// MaxRowBytes bounds a documents/ row (mostly 8 bytes per token of
	// entropies and prominence); a document over it is rejected at the
	// write stage. 0 means DefaultMaxRowBytes.
	MaxRowBytes int64
	// MaxRejects decides when the run fails for rejecting too much; the
	// zero value allows no reject at all.
	MaxRejects reject.Budget
	// Resume makes the writer leave a completion record per finished split
	// (_splits/, see transforms/resume); its zero value writes none.
	Resume resume.Config
}

// DefaultMaxRowBytes keeps a row well inside Arrow's 2 GiB offsets and
// readers' row-group buffers.
const DefaultMaxRowBytes = 512 << 20

func (c Config) maxRowBytes() int64 {
	if c.MaxRowBytes > 0 {
		return c.MaxRowBytes
	}
	return DefaultMaxRowBytes
}

// Shards writes every split's shard files and returns a
// PCollection<record.ShardInfo>, one per committed file.
func Shards(s beam.Scope, scored beam.PCollection, c Config) beam.PCollection {
	s = s.Scope("WriteShards")
	return beam.ParDo(s, &writeFn{Config: c}, scored)
}

// Finalize waits for all shards, the stats, the stages' tallies
// (PCollection<record.Tally>) and the run's input splits
// (PCollection<record.Split>, as planned by the read stage), then writes
// waterfill/_STATS.json, removes stale shards and completion records of
// splits no longer in the input, and writes _MANIFEST.json last. It
// returns a PCollection<string> holding the manifest's path.
//
// The manifest records the accounting documents + rejected = seen; when it
// does not hold, or the rejects exceed MaxRejects, the manifest says so
// (status "failed", error) and the pipeline fails.
func Finalize(s beam.Scope, shards, stats, tallies, splits beam.PCollection, c Config) beam.PCollection {
	s = s.Scope("Finalize")
	return beam.ParDo(s, &finalizeFn{Config: c}, beam.Impulse(s), beam.SideInput{Input: shards}, beam.SideInput{Input: stats},
		beam.SideInput{Input: tallies}, beam.SideInput{Input: splits})
}

// ShardName returns the relative path of a split's file in a table (for
// patches/, its first file; see schemas.PatchesPartName).
func ShardName(table, split string, ordinal int64, bltName string) string {
	switch table {
	case schemas.DocumentsDir, schemas.PatchesDir:
		return table + "/" + split + schemas.ParquetExt
	case schemas.HypergraphDir:
		return table + "/" + split + schemas.HypergraphExt
	case schemas.BLTArrowDir:
		return fmt.Sprintf("%s/%s.shard_%d.arrow", schemas.BLTArrowDir, bltName, ordinal)
	case schemas.RejectsDir:
		return reject.ShardName(split)
	}
	panic("write: unknown table " + table)
}

var (
	shardsWritten = beam.NewCounter("bltpipe", "shard_files")
	bltSkipped    = beam.NewCounter("bltpipe", "blt_arrow_skipped")
)

// splitFiles are the open writers of the split being written.
type splitFiles struct {
	split   string
	ordinal int64
	docs    *parquetTable
	patches []*parquetTable // the split's patches/ files (schemas.PatchesParts)
	blt     *bltTable
	graph   *sidecar
	rejects *reject.Table       // opened at the split's first reject
	stats   *waterfill.SplitAcc // the split's statistics partial, for its completion record
	source  string
	open    bool // data tables opened (at the split's first document)
	lanes   []*lane
	sent    int // data documents handed to the lanes (picks the patches file)
}

// lane appends documents to some of a split's tables in a goroutine of its
// own: a split arrives as one ordered run of documents, so its tables are
// encoded in parallel with each other rather than one after the other.
type lane struct {
	in      chan record.Scored
	done    chan error
	patches int // the patches/ file it fills, or -1: it takes every document
}

func startLane(patches int, add func(record.Scored) error) *lane {
	l := &lane{in: make(chan record.Scored, 64), done: make(chan error, 1), patches: patches}
	go func() {
		var err error
		for sc := range l.in {
			if err == nil {
				err = add(sc)
			}
		}
		l.done <- err
	}()
	return l
}

// stopLanes ends the lanes' input and returns the first error among them.
func (f *splitFiles) stopLanes() error {
	var first error
	for _, l := range f.lanes {
		close(l.in)
		if err := <-l.done; err != nil && first == nil {
			first = err
		}
	}
	f.lanes = nil
	return first
}

// writeFn hands every split to a goroutine of its own (splitWriter) that
// encodes and writes the split's files, so that a bundle holding many
// splits (prism puts a stage's whole input in one bundle) writes them in
// parallel with each other and with the stages before it. Finished splits
// are reported in input order from the DoFn's own calls (Beam emitters and
// counters are used only there).
type writeFn struct {
	Config Config

	writers []*splitWriter  // oldest first; the last one may still receive
	done    map[string]bool // splits started in this bundle
}

// splitWriter writes one split's files from the documents sent on in.
type splitWriter struct {
	split  string
	in     chan record.Scored // nil once the split's input ended
	result chan splitResult
}

// splitResult is what a finished split reports for the DoFn to emit and count.
type splitResult struct {
	infos        []record.ShardInfo
	writeRejects int64 // documents rejected here (row too large)
	bltSkipped   int64
	files        int64 // shard files committed (the counter's unit)
	err          error
}

// maxWritersPerBundle bounds the splits being written at once.
func maxWritersPerBundle() int { return max(2, runtime.GOMAXPROCS(0)) }

func (fn *writeFn) StartBundle(_ func(record.ShardInfo)) {
	fn.done = map[string]bool{}
}

func (fn *writeFn) ProcessElement(ctx context.Context, sc record.Scored, emit func(record.ShardInfo)) error {
	n := len(fn.writers)
	if n == 0 || fn.writers[n-1].in == nil || fn.writers[n-1].split != sc.Doc.Split {
		if fn.done[sc.Doc.Split] {
			return fmt.Errorf("split %s: documents arrived after the split was closed; the pipeline must not shuffle between read and write", sc.Doc.Split)
		}
		fn.closeCurrent()
		fn.done[sc.Doc.Split] = true
		w := &splitWriter{split: sc.Doc.Split, in: make(chan record.Scored, 16), result: make(chan splitResult, 1)}
		f := &splitFiles{split: sc.Doc.Split, ordinal: sc.Doc.Ordinal, source: sc.Doc.Source}
		go w.run(ctx, fn, f, w.in)
		fn.writers = append(fn.writers, w)
	}
	fn.writers[len(fn.writers)-1].in <- sc
	return fn.drain(ctx, emit, false)
}

// closeCurrent ends the input of the split being received, if any.
func (fn *writeFn) closeCurrent() {
	if n := len(fn.writers); n > 0 && fn.writers[n-1].in != nil {
		close(fn.writers[n-1].in)
		fn.writers[n-1].in = nil
	}
}

// drain emits the results of finished splits at the head of the queue; it
// waits for the head while too many splits are out, or for all with all.
func (fn *writeFn) drain(ctx context.Context, emit func(record.ShardInfo), all bool) error {
	for len(fn.writers) > 0 {
		w := fn.writers[0]
		if w.in != nil && !all {
			return nil // still receiving
		}
		var r splitResult
		if all || len(fn.writers) > maxWritersPerBundle() {
			r = <-w.result
		} else {
			select {
			case r = <-w.result:
			default:
				return nil
			}
		}
		fn.writers = fn.writers[1:]
		for range r.writeRejects {
			reject.Count(ctx, schemas.StageWrite)
		}
		bltSkipped.Inc(ctx, r.bltSkipped)
		shardsWritten.Inc(ctx, r.files)
		if r.err != nil {
			for _, o := range fn.writers { // let the others finish; their files stay temporary
				if o.in != nil {
					close(o.in)
					o.in = nil
				}
			}
			return r.err
		}
		for _, si := range r.infos {
			emit(si)
		}
	}
	return nil
}

// run writes the split's documents as they arrive and closes the split when
// the input ends. After a failure it drains its input without writing.
func (w *splitWriter) run(ctx context.Context, fn *writeFn, f *splitFiles, in <-chan record.Scored) {
	var r splitResult
	for sc := range in {
		if r.err == nil {
			r.err = fn.add(ctx, f, sc, &r)
		}
	}
	if r.err == nil {
		r.err = fn.closeSplit(ctx, f, &r)
	} else {
		f.stopLanes() // the split's files stay temporary
	}
	w.result <- r
}

// add writes one document of f's split.
func (fn *writeFn) add(ctx context.Context, f *splitFiles, sc record.Scored, r *splitResult) error {
	if !sc.Doc.Rejected() && fn.Config.Resume.Ledger != "" {
		// What waterfill.PrepWeighted reduces: every document that reached
		// the writer, before the row check below.
		if f.stats == nil {
			f.stats = waterfill.NewSplitAcc(f.split, fn.Config.Resume.Weighting, schemas.PatchesParts(fn.Config.Embeddings))
		}
		f.stats.Add(sc)
	}
	if !sc.Doc.Rejected() {
		if size := rowBytes(sc); size > fn.Config.maxRowBytes() {
			r.writeRejects++
			sc = record.Scored{Doc: reject.Of(sc.Doc, schemas.StageWrite, reject.ClassRowTooLarge,
				fmt.Sprintf("documents row of about %d bytes, over the row limit %d", size, fn.Config.maxRowBytes()))}
		}
	}
	if sc.Doc.Rejected() {
		if f.rejects == nil {
			t, err := reject.NewTable(ctx, fn.Config.Output, f.split)
			if err != nil {
				f.abort()
				return err
			}
			f.rejects = t
		}
		return f.rejects.Append(sc.Doc)
	}
	if !f.open {
		if err := fn.openData(ctx, f); err != nil {
			return err
		}
	}
	if f.blt != nil && !utf8.Valid(sc.Doc.Data) {
		// Meta's trainer reads text as a Python str and re-encodes it to
		// UTF-8 bytes; only documents that are valid UTF-8 round-trip.
		r.bltSkipped++
	}
	for _, l := range f.lanes {
		if l.patches < 0 || l.patches == f.sent%len(f.patches) {
			l.in <- sc
		}
	}
	f.sent++
	return nil
}

// startLanes starts the goroutines that fill f's open data tables:
// documents (and the BLT Arrow file), each patches file, and the sidecar.
func (fn *writeFn) startLanes(f *splitFiles) {
	embeddings := fn.Config.Embeddings
	f.lanes = []*lane{
		startLane(-1, func(sc record.Scored) error {
			if err := appendDocument(f.docs, sc); err != nil {
				return err
			}
			if f.blt != nil && utf8.Valid(sc.Doc.Data) {
				return f.blt.append(sc)
			}
			return nil
		}),
		startLane(-1, func(sc record.Scored) error {
			if err := f.graph.add(sc); err != nil {
				return fmt.Errorf("sidecar for %s: %w", f.split, err)
			}
			return nil
		}),
	}
	for k, t := range f.patches {
		f.lanes = append(f.lanes, startLane(k, func(sc record.Scored) error { return appendPatches(t, sc, embeddings) }))
	}
}

func (fn *writeFn) FinishBundle(ctx context.Context, emit func(record.ShardInfo)) error {
	fn.closeCurrent()
	return fn.drain(ctx, emit, true)
}

// rowBytes estimates the documents/ row of sc: per-token entropies and
// prominence, patch lengths, and the strings.
func rowBytes(sc record.Scored) int64 {
	n := int64(4*len(sc.Entropies)+4*len(sc.Prominence)+4*len(sc.PatchLengths)) + int64(len(sc.Doc.ID)+len(sc.Doc.Source)+len(sc.Doc.Modality))
	for _, k := range sc.Doc.Keep {
		n += int64(len(k))
	}
	return n
}

// openData opens the data tables of f's split (at its first document, so
// a split of rejects only has no data shards).
func (fn *writeFn) openData(ctx context.Context, f *splitFiles) (err error) {
	c := fn.Config
	split, ordinal, source := f.split, f.ordinal, f.source
	out := func(table string) string { return fsio.Join(c.Output, ShardName(table, split, ordinal, c.BLTArrow)) }
	f.open = true
	defer func() {
		if err != nil {
			f.abort()
		}
	}()
	if f.docs, err = newParquetTable(ctx, schemas.DocumentsDir, out(schemas.DocumentsDir), schemas.Documents(c.Keep), docRowsPerGroup); err != nil {
		return err
	}
	for k := range schemas.PatchesParts(c.Embeddings) {
		t, err := newParquetTable(ctx, schemas.PatchesDir, fsio.Join(c.Output, schemas.PatchesPartName(split, k)), schemas.Patches(c.Embeddings), patchRowsPerGroup)
		if err != nil {
			return err
		}
		f.patches = append(f.patches, t)
	}
	if c.BLTArrow != "" {
		if f.blt, err = newBLTTable(ctx, out(schemas.BLTArrowDir)); err != nil {
			return err
		}
	}
	run, _ := json.Marshal(c.Run)
	meta := map[string]string{
		"schema_version": schemas.Version,
		"split":          split,
		"source":         source,
		"model_sha256":   c.Run.Model.WeightsSHA256,
		"patching":       c.Run.Patcher.Mode,
		"tool_version":   c.Run.Version,
		"run":            string(run),
	}
	if f.graph, err = newSidecar(out(schemas.HypergraphDir), meta); err != nil {
		return err
	}
	fn.startLanes(f)
	return nil
}

func (f *splitFiles) abort() {
	f.stopLanes() // no lane may write after its table is aborted
	if f.docs != nil {
		f.docs.abort()
	}
	for _, t := range f.patches {
		t.abort()
	}
	if f.blt != nil {
		f.blt.abort()
	}
	if f.graph != nil {
		f.graph.abort()
	}
	if f.rejects != nil {
		f.rejects.Abort()
	}
}

// closeSplit commits f's files and its completion record, collecting the
// files' ShardInfo in r.
func (fn *writeFn) closeSplit(ctx context.Context, f *splitFiles, r *splitResult) error {
	c := fn.Config
	emit := func(si record.ShardInfo) { r.infos = append(r.infos, si) }
	info := func(table string, rows int64, file *fsio.AtomicFile) {
		emit(record.ShardInfo{Table: table, Path: fsio.Rel(c.Output, file.Path()), Split: f.split, Rows: rows, Bytes: file.Size(), SHA256: file.SHA256()})
		r.files++
		progress.Shards.Add(1)
	}
	if f.rejects != nil {
		if err := f.rejects.Close(); err != nil {
			f.rejects = nil
			f.abort()
			return err
		}
		info(schemas.RejectsDir, f.rejects.Rows(), f.rejects.File())
		f.rejects = nil
	}
	if !f.open {
		return fn.commitRecord(ctx, f, r.infos) // a split of rejects only: no data tables
	}
	if err := f.stopLanes(); err != nil {
		f.abort()
		return err
	}
	// A split of fewer documents than PatchesParts leaves its last patches
	// files empty (documents go round robin): they are dropped, not written.
	for n := len(f.patches); n > 1 && f.patches[n-1].rows == 0; n-- {
		f.patches[n-1].abort()
		f.patches = f.patches[:n-1]
	}
	for _, t := range append([]*parquetTable{f.docs}, f.patches...) {
		if err := t.close(); err != nil {
			f.abort()
			return err
		}
		info(t.table, t.rows, t.file)
	}
	if f.blt != nil {
		if err := f.blt.close(); err != nil {
			f.abort()
			return err
		}
		info(schemas.BLTArrowDir, f.blt.rows, f.blt.file)
		marker := f.blt.file.Path() + schemas.CompleteSuffix
		sum, err := fsio.WriteFile(ctx, marker, nil)
		if err != nil {
			f.abort()
			return err
		}
		emit(record.ShardInfo{Table: schemas.BLTArrowDir + schemas.CompleteSuffix, Path: fsio.Rel(c.Output, marker), Split: f.split, SHA256: sum})
	}
	size, sum, err := f.graph.close(ctx)
	if err != nil {
		return err
	}
	emit(record.ShardInfo{Table: schemas.HypergraphDir, Path: ShardName(schemas.HypergraphDir, f.split, f.ordinal, c.BLTArrow), Split: f.split, Rows: f.graph.leaves, Bytes: size, SHA256: sum})
	r.files++
	progress.Shards.Add(1)
	return fn.commitRecord(ctx, f, r.infos)
}

// commitRecord writes the completion record of a split whose files are
// all committed (infos), so that a rerun can skip it.
func (fn *writeFn) commitRecord(ctx context.Context, f *splitFiles, infos []record.ShardInfo) error {
	var p *waterfill.Partial
	if f.stats != nil {
		v := f.stats.Partial()
		p = &v
	}
	return resume.Commit(ctx, fn.Config.Resume, f.split, infos, p)
}

// Manifest is the content of _MANIFEST.json.
type Manifest struct {
	SchemaVersion string `json:"schema_version"`
	Run           Run    `json:"run"`
	Counts        Counts `json:"counts"`
	// Accounting is documents + rejected = seen, per stage; Status is "ok"
	// or "failed" with Error saying why (accounting mismatch, or rejects
	// over --max-rejects: the shards are complete but the run failed).
	Accounting reject.Accounting  `json:"accounting"`
	MaxRejects string             `json:"max_rejects"`
	Status     string             `json:"status"`
	Error      string             `json:"error,omitempty"`
	Stats      string             `json:"stats"`
	Shards     []record.ShardInfo `json:"shards"`
	// Splits are the run's input splits, by ordinal; a shard covers the
	// input of the split its Split field names.
	Splits []InputSplit `json:"splits"`
}

// InputSplit is one input split in the manifest: the shards whose split is
// ID hold exactly the records of Source in [Start, End) (bytes of an
// uncompressed JSONL file, row groups of a Parquet file; the whole file
// otherwise, and for a refused file, format "rejected", one reject).
type InputSplit struct {
	ID          string `json:"split"`
	Key         string `json:"key"`
	Source      string `json:"source"`
	Format      string `json:"format"`
	Compression string `json:"compression,omitempty"`
	Start       int64  `json:"start"`
	End         int64  `json:"end"`
}

// Counts totals the run.
type Counts struct {
	Splits    int64 `json:"splits"`
	Documents int64 `json:"documents"`
	Patches   int64 `json:"patches"`
	Tokens    int64 `json:"tokens"`
	Rejected  int64 `json:"rejected"`
}

type finalizeFn struct {
	Config Config
}

func (fn *finalizeFn) ProcessElement(ctx context.Context, _ []byte, shardIter func(*record.ShardInfo) bool, statsIter func(*waterfill.Stats) bool, tallyIter func(*record.Tally) bool, splitIter func(*record.Split) bool, emit func(string)) error {
	c := fn.Config
	var shards []record.ShardInfo
	seen := map[string]bool{}
	var sh record.ShardInfo
	for shardIter(&sh) {
		if !seen[sh.Path] { // a retried bundle may report a file twice
			seen[sh.Path] = true
			shards = append(shards, sh)
		}
	}
	sort.Slice(shards, func(i, j int) bool { return shards[i].Path < shards[j].Path })
	var st waterfill.Stats
	var parts []waterfill.Stats
	var one waterfill.Stats
	for statsIter(&one) {
		parts = append(parts, one)
	}
	if len(parts) > 1 {
		return fmt.Errorf("finalize: %d stats values, want at most 1", len(parts))
	} else if len(parts) == 1 {
		st = parts[0]
	}

	statsJSON, err := json.MarshalIndent(waterfill.ToFile(schemas.Version, st), "", "  ")
	if err != nil {
		return err
	}
	if _, err := fsio.WriteFile(ctx, fsio.Join(c.Output, schemas.StatsFile), append(statsJSON, '\n')); err != nil {
		return err
	}
	if err := removeStale(ctx, c.Output, seen); err != nil {
		return err
	}
	inputs, ids := inputSplits(splitIter)
	if err := resume.Prune(ctx, c.Output, ids); err != nil {
		return err
	}

	m := Manifest{SchemaVersion: schemas.Version, Run: c.Run, Stats: schemas.StatsFile, Shards: shards, Splits: inputs,
		MaxRejects: c.MaxRejects.String(), Status: "ok"}
	splits := map[string]bool{}
	for _, s := range shards {
		splits[s.Split] = true
		switch s.Table {
		case schemas.DocumentsDir:
			m.Counts.Documents += s.Rows
		case schemas.PatchesDir:
			m.Counts.Patches += s.Rows
		case schemas.RejectsDir:
			m.Counts.Rejected += s.Rows
		}
	}
	m.Counts.Splits = int64(len(splits))
	m.Counts.Tokens = st.Tokens.N
	acc, err := accounting(ctx, c.Output, m.Counts, shards, tallyIter)
	if err != nil {
		return err
	}
	m.Accounting = acc
	var failure error
	if err := acc.Check(); err != nil {
		failure = err
	} else if over, why := c.MaxRejects.Exceeded(acc.Rejected, acc.Seen); over {
		failure = fmt.Errorf("too many rejects: %s (see %s/)", why, schemas.RejectsDir)
	}
	if failure != nil {
		m.Status, m.Error = "failed", failure.Error()
	}
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	path := fsio.Join(c.Output, schemas.ManifestFile)
	if _, err := fsio.WriteFile(ctx, path, append(b, '\n')); err != nil {
		return err
	}
	if failure != nil {
		return fmt.Errorf("%w (manifest %s)", failure, path)
	}
	emit(path)
	return nil
}

// inputSplits lists the planned splits by ordinal, and their ids.
func inputSplits(splitIter func(*record.Split) bool) ([]InputSplit, map[string]bool) {
	ids := map[string]bool{}
	var all []record.Split
	var sp record.Split
	for splitIter(&sp) {
		if !ids[sp.ID] {
			ids[sp.ID] = true
			all = append(all, sp)
		}
	}
	sort.Slice(all, func(i, j int) bool { return all[i].Ordinal < all[j].Ordinal })
	out := make([]InputSplit, len(all))
	for i, sp := range all {
		out[i] = InputSplit{ID: sp.ID, Key: sp.Key, Source: sp.Path, Format: sp.Format, Compression: sp.Compression, Start: sp.Start, End: sp.End}
	}
	return out, ids
}

// accounting totals the stages' tallies (seen) and counts the rejects by
// stage from the committed rejects/ shards' stage column.
func accounting(ctx context.Context, out string, counts Counts, shards []record.ShardInfo, tallyIter func(*record.Tally) bool) (reject.Accounting, error) {
	a := reject.Accounting{Documents: counts.Documents, Rejected: counts.Rejected, SeenByStage: map[string]int64{}}
	seen := map[string]bool{} // a retried bundle may report a split's tally twice
	var t record.Tally
	for tallyIter(&t) {
		k := t.Split + "\x00" + t.Stage
		if seen[k] {
			continue
		}
		seen[k] = true
		a.Seen += t.Seen
		a.SeenByStage[t.Stage] += t.Seen
	}
	var files []string
	for _, s := range shards {
		if s.Table == schemas.RejectsDir {
			files = append(files, fsio.Join(out, s.Path))
		}
	}
	by, err := reject.CountByStage(ctx, files)
	if err != nil {
		return a, err
	}
	a.ByStage = by
	return a, nil
}

// removeStale deletes shard files this run did not produce (left by an
// earlier run over different input) and temporaries of failed attempts.
// Only names bltpipe writes are considered.
func removeStale(ctx context.Context, out string, keep map[string]bool) error {
	globs := []string{
		schemas.RejectsDir + "/part-*" + schemas.ParquetExt,
		schemas.DocumentsDir + "/part-*" + schemas.ParquetExt,
		schemas.PatchesDir + "/part-*" + schemas.ParquetExt,
		schemas.HypergraphDir + "/part-*" + schemas.HypergraphExt,
		schemas.BLTArrowDir + "/*.shard_*.arrow",
		schemas.BLTArrowDir + "/*.shard_*.arrow" + schemas.CompleteSuffix,
	}
	for _, dir := range []string{schemas.RejectsDir, schemas.DocumentsDir, schemas.PatchesDir, schemas.HypergraphDir, schemas.BLTArrowDir, schemas.WaterfillDir, "."} {
		if dir == "." {
			globs = append(globs, ".*"+fsio.TempMarker+"*")
		} else {
			globs = append(globs, dir+"/.*"+fsio.TempMarker+"*")
		}
	}
	for _, g := range globs {
		files, err := fsio.List(ctx, fsio.Join(out, g))
		if err != nil {
			return err
		}
		for _, f := range files {
			rel := fsio.Rel(out, f)
			if keep[rel] && !strings.Contains(rel, fsio.TempMarker) {
				continue
			}
			if err := fsio.Remove(ctx, f); err != nil {
				return err
			}
		}
	}
	return nil
}
