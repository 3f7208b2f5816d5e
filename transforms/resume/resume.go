// Package resume lets an interrupted run (killed process, failed worker)
// finish only the input splits it had not finished, and still end with the
// bytes of an uninterrupted run.
//
// When the writer has committed every file of a split it writes the split's
// completion record, _splits/<split>.json (temp-then-rename, like every
// file): the split's key, a fingerprint of the run configuration that
// shapes the split's files, a fingerprint of the input (path, range, size,
// modification time), the split's files (ShardInfo: name, rows, size,
// sha256), the stages' tallies for it (documents + rejected = seen) and its
// contribution to the corpus statistics (a waterfill.Partial). Nothing in
// it depends on when or where it was written, so two runs over the same
// input write the same records.
//
// On a rerun, Check (placed between the split reshuffle and the read
// stage, fused with it) looks for each split's record; when the record is
// whole, its fingerprints match and its files are all there with their
// recorded sizes, the split is not read again: its ShardInfos, tallies and
// partial are emitted into the PCollections the sphere stage and Finalize
// consume, exactly as if the split had been processed. Otherwise the
// record is deleted before the split is redone (so a later interruption
// can never leave a record describing files being rewritten) and the split
// goes on to the read stage.
//
// The writer knows a split's files and can compute its partial itself
// (waterfill.SplitAcc, the code partialFn runs), but the tallies are
// counted upstream, by the read and limits stages. Those stages and the
// writer run fused in one bundle (the writer already relies on that: a
// split's documents arrive contiguously), so the stages note their tallies
// in a process-local ledger, keyed by the run's ledger id and the split,
// and the writer takes them when it closes the split. If the ledger does
// not hold a split's tallies (a runner that did not fuse the stages), or
// they do not add up to the split's documents and rejects, no record is
// written: the split is simply redone by a later run.
package resume

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"path"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/log"
	"github.com/bltpipe/bltpipe/schemas"
	"github.com/bltpipe/bltpipe/transforms/fsio"
	"github.com/bltpipe/bltpipe/transforms/record"
	"github.com/bltpipe/bltpipe/transforms/reject"
	"github.com/bltpipe/bltpipe/transforms/waterfill"
	"github.com/bltpipe/bltpipe/transforms/waterfill/alloc"
)

// RecordVersion is the version of the completion record's format; a
// record of another version is ignored (its split is redone).
const RecordVersion = "bltpipe.splits.v1"

// Config is shared by Check and the writer.
type Config struct {
	Output string // the output directory (local or gs://)
	// Fingerprint identifies the configuration that shapes a split's files
	// (see Fingerprint); a record with another one is not reused.
	Fingerprint string
	// Ledger is the run's ledger id (NewLedger); "" writes no records.
	Ledger string
	// Overwrite ignores and deletes existing records: every split is redone.
	Overwrite bool
	// Weighting is the waterfill weighting of the run's statistics (the
	// writer computes each split's partial with it).
	Weighting alloc.Weighting
}

// Fingerprint returns the sha256 (hex) of v's JSON encoding. Give it
// everything that can change the bytes of a split's files or of its
// partial, and nothing else (a field that does not matter only makes a
// rerun redo work).
func Fingerprint(v any) (string, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return "", fmt.Errorf("resume: configuration fingerprint: %w", err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), nil
}

// NewLedger returns a fresh ledger id for one pipeline.
func NewLedger() string {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Path returns the completion record's path of a split.
func Path(output, split string) string {
	return fsio.Join(output, schemas.SplitsDir, split+".json")
}

// Input identifies the input of a split as it was when the split was read.
// A file rewritten since (other size or modification time) or a split
// planned differently (other range) does not match.
type Input struct {
	Path        string `json:"path"`
	Format      string `json:"format"`
	Compression string `json:"compression,omitempty"`
	Start       int64  `json:"start"`
	End         int64  `json:"end"`
	// Size is the file's size in bytes (-1 for a file the planner refused).
	Size int64 `json:"size"`
	// Modified is the file's modification time (RFC 3339, UTC, ns) where
	// the storage reports one (local files, gs:// objects).
	Modified string `json:"modified,omitempty"`
	// Refused is the planner's verdict on a file it refused ("class:
	// reason"); such a split is one reject.
	Refused string `json:"refused,omitempty"`
}

// InputOf fingerprints a split's input now.
func InputOf(ctx context.Context, sp record.Split) (Input, error) {
	in := Input{Path: sp.Path, Format: sp.Format, Compression: sp.Compression, Start: sp.Start, End: sp.End}
	if sp.Format == record.FormatRejected {
		// Not opened or stat'ed: it may be a FIFO or a link out of the root.
		in.Size, in.Refused = -1, sp.RejectClass+": "+sp.RejectReason
		return in, nil
	}
	n, err := fsio.Size(ctx, sp.Path)
	if err != nil {
		return in, err
	}
	in.Size = n
	f, err := fsio.FS(ctx, sp.Path)
	if err != nil {
		return in, err
	}
	if lm, ok := f.(filesystem.LastModifiedGetter); ok {
		t, err := lm.LastModified(ctx, sp.Path)
		if err != nil {
			return in, fmt.Errorf("modification time of %s: %w", sp.Path, err)
		}
		in.Modified = t.UTC().Format(time.RFC3339Nano)
	}
	return in, nil
}

// Tally is a stage's count of elements seen for the split (record.Tally
// without the split).
type Tally struct {
	Stage string `json:"stage"`
	Seen  int64  `json:"seen"`
}

// Record is the content of _splits/<split>.json.
type Record struct {
	Version string `json:"record_version"`
	Split   string `json:"split"` // Split.ID
	Key     string `json:"key"`   // Split.Key
	Config  string `json:"config"`
	Input   Input  `json:"input"`
	// Shards are the split's committed files, as the writer reported them.
	Shards []record.ShardInfo `json:"shards"`
	// Tallies are the stages' counts for the split, by stage.
	Tallies []Tally `json:"tallies"`
	// Stats is the split's waterfill partial; absent when the split has no
	// document (only rejects).
	Stats *waterfill.Partial `json:"stats,omitempty"`
}

// dataTables are the tables a record may list files of.
var dataTables = map[string]bool{
	schemas.DocumentsDir: true, schemas.PatchesDir: true, schemas.HypergraphDir: true,
	schemas.BLTArrowDir: true, schemas.BLTArrowDir + schemas.CompleteSuffix: true, schemas.RejectsDir: true,
}

// consistent checks what a record says about itself: every file belongs to
// the split and lies in its table's directory, and the tallies add up to
// the split's documents and rejects.
func (r Record) consistent() error {
	var rows, seen int64
	for _, s := range r.Shards {
		dir, _, _ := strings.Cut(s.Path, "/")
		if s.Split != r.Split || !dataTables[s.Table] || path.Clean(s.Path) != s.Path || strings.Contains(s.Path, "..") ||
			dir != strings.TrimSuffix(s.Table, schemas.CompleteSuffix) {
			return fmt.Errorf("file %q (table %q, split %q) does not belong to the split", s.Path, s.Table, s.Split)
		}
		if s.Table == schemas.DocumentsDir || s.Table == schemas.RejectsDir {
			rows += s.Rows
		}
	}
	for _, t := range r.Tallies {
		seen += t.Seen
	}
	if seen != rows {
		return fmt.Errorf("tallies say %d seen, the files hold %d documents and rejects", seen, rows)
	}
	if r.Stats != nil && r.Stats.Split != r.Split {
		return fmt.Errorf("statistics of split %q", r.Stats.Split)
	}
	return nil
}

// The ledger: what the stages upstream of the writer learnt about a split
// in this process, until the writer takes it.
type ledgerKey struct{ run, split string }

type ledgerEntry struct {
	split   record.Split
	input   Input
	planned bool // split and input set by Check
	tallies map[string]int64
}

var (
	ledgerMu sync.Mutex
	ledger   = map[ledgerKey]*ledgerEntry{}
)

func entryLocked(run, split string) *ledgerEntry {
	k := ledgerKey{run, split}
	e := ledger[k]
	if e == nil {
		e = &ledgerEntry{tallies: map[string]int64{}}
		ledger[k] = e
	}
	return e
}

func notePlan(run string, sp record.Split, in Input) {
	if run == "" {
		return
	}
	ledgerMu.Lock()
	defer ledgerMu.Unlock()
	e := entryLocked(run, sp.ID)
	e.split, e.input, e.planned = sp, in, true
}

// NoteTally records a stage's tally of a split for the writer (the stage
// also emits it as usual). A retried bundle's tally replaces the first
// attempt's, as Finalize keeps one tally per split and stage. No-op when
// run is "".
func NoteTally(run string, t record.Tally) {
	if run == "" {
		return
	}
	ledgerMu.Lock()
	defer ledgerMu.Unlock()
	entryLocked(run, t.Split).tallies[t.Stage] = t.Seen
}

// Forget drops what the ledger holds about a split the writer will never
// see (the read stage found nothing in it).
func Forget(run, split string) {
	if run == "" {
		return
	}
	ledgerMu.Lock()
	defer ledgerMu.Unlock()
	delete(ledger, ledgerKey{run, split})
}

func take(run, split string) *ledgerEntry {
	ledgerMu.Lock()
	defer ledgerMu.Unlock()
	k := ledgerKey{run, split}
	e := ledger[k]
	delete(ledger, k)
	return e
}

// Commit writes the completion record of a split whose files (shards) are
// all committed, with its partial (nil when it has no document). It is
// called by the writer right after the split's last file. When the record
// cannot be complete (see the package comment) it writes none and logs
// why; the error is a storage error only.
func Commit(ctx context.Context, c Config, split string, shards []record.ShardInfo, stats *waterfill.Partial) error {
	if c.Ledger == "" {
		return nil
	}
	e := take(c.Ledger, split)
	if e == nil || !e.planned {
		log.Warnf(ctx, "resume: split %s: its input was not fingerprinted in this worker; no completion record (a rerun redoes it)", split)
		return nil
	}
	r := Record{Version: RecordVersion, Split: split, Key: e.split.Key, Config: c.Fingerprint, Input: e.input,
		Shards: append([]record.ShardInfo(nil), shards...), Stats: stats}
	sort.Slice(r.Shards, func(i, j int) bool { return r.Shards[i].Path < r.Shards[j].Path })
	for st, n := range e.tallies {
		r.Tallies = append(r.Tallies, Tally{Stage: st, Seen: n})
	}
	sort.Slice(r.Tallies, func(i, j int) bool { return r.Tallies[i].Stage < r.Tallies[j].Stage })
	if err := r.consistent(); err != nil {
		log.Warnf(ctx, "resume: split %s: %v; no completion record (a rerun redoes it)", split, err)
		return nil
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		log.Warnf(ctx, "resume: split %s: %v; no completion record (a rerun redoes it)", split, err)
		return nil
	}
	if _, err := fsio.WriteFile(ctx, Path(c.Output, split), append(b, '\n')); err != nil {
		return fmt.Errorf("completion record of %s: %w", split, err)
	}
	return nil
}

// Load reads a split's record and checks it against the split, the
// configuration fingerprint, the input's fingerprint and the files it
// lists (present, with their recorded sizes). It returns the record when
// the split can be skipped; otherwise nil, whether a record file exists,
// and why it cannot be used. A record that does not parse counts as
// present but unusable.
func Load(ctx context.Context, c Config, sp record.Split, in Input) (rec *Record, exists bool, why string) {
	b, err := fsio.ReadFile(ctx, Path(c.Output, sp.ID))
	if err != nil {
		// Absent, or unreadable now: either way the split is redone (and
		// the record, if any, deleted before).
		return nil, !isNotExist(err), "unreadable record: " + err.Error()
	}
	var r Record
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, true, "corrupt record: " + err.Error()
	}
	switch {
	case r.Version != RecordVersion:
		return nil, true, fmt.Sprintf("record version %q, want %q", r.Version, RecordVersion)
	case r.Split != sp.ID || r.Key != sp.Key:
		return nil, true, fmt.Sprintf("record of split %s %q", r.Split, r.Key)
	case r.Config != c.Fingerprint:
		return nil, true, "configuration changed"
	case r.Input != in:
		return nil, true, fmt.Sprintf("input changed (recorded size %d, modified %s; now %d, %s)", r.Input.Size, r.Input.Modified, in.Size, in.Modified)
	case len(r.Shards) == 0:
		return nil, true, "record lists no file"
	}
	if err := r.consistent(); err != nil {
		return nil, true, err.Error()
	}
	for _, s := range r.Shards {
		n, err := fsio.Size(ctx, fsio.Join(c.Output, s.Path))
		if err != nil {
			return nil, true, fmt.Sprintf("%s: %v", s.Path, err)
		}
		if n != s.Bytes {
			return nil, true, fmt.Sprintf("%s: %d bytes, recorded %d", s.Path, n, s.Bytes)
		}
	}
	return &r, true, ""
}

func isNotExist(err error) bool {
	s := err.Error()
	return strings.Contains(s, "no such file") || strings.Contains(s, "not exist") || strings.Contains(s, "doesn't exist") || strings.Contains(s, "not found")
}

// Prune deletes the completion records of splits not in keep (split ids of
// the run's input: a record of an input split no longer planned is stale)
// and temporaries of records left by killed attempts. Finalize calls it.
func Prune(ctx context.Context, output string, keep map[string]bool) error {
	for _, g := range []string{"*.json", ".*" + fsio.TempMarker + "*"} {
		files, err := fsio.List(ctx, fsio.Join(output, schemas.SplitsDir, g))
		if err != nil {
			return err
		}
		for _, f := range files {
			name := path.Base(fsio.Rel(output, f))
			if id, ok := strings.CutSuffix(name, ".json"); ok && keep[id] && !strings.Contains(name, fsio.TempMarker) {
				continue
			}
			if err := fsio.Remove(ctx, f); err != nil {
				return err
			}
		}
	}
	return nil
}

// printable is reject.Printable (keys hold input paths).
func printable(s string) string { return reject.Printable(s) }
