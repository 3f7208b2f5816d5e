package pipelines

import (
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/bltpipe/bltpipe/modelio/patcher"
	"github.com/bltpipe/bltpipe/schemas"
	"github.com/bltpipe/bltpipe/transforms/pretokenize"
	"github.com/bltpipe/bltpipe/transforms/pretokenize/modality"
	"github.com/bltpipe/bltpipe/transforms/reject"
	"github.com/bltpipe/bltpipe/transforms/testcorpus"
	"github.com/bltpipe/bltpipe/transforms/write"
)

// rejectRow is a row of rejects/ as the tests read it back.
type rejectRow struct {
	DocID                     *string
	Source, Stage, Class, Msg string
	Seq                       int64
	InputBytes                *int64
	Head                      []byte
}

func readRejects(t *testing.T, out string) []rejectRow {
	t.Helper()
	var rows []rejectRow
	for _, p := range globSorted(t, filepath.Join(out, schemas.RejectsDir, "*.parquet")) {
		tbl := readTable(t, p)
		tr := array.NewTableReader(tbl, 1024)
		for tr.Next() {
			rec := tr.RecordBatch()
			col := func(name string) int { return rec.Schema().FieldIndices(name)[0] }
			ids := rec.Column(col(schemas.ColDocID)).(*array.String)
			src := rec.Column(col(schemas.ColSource)).(*array.String)
			seq := rec.Column(col(schemas.ColSeq)).(*array.Int64)
			stage := rec.Column(col(schemas.ColStage)).(*array.String)
			class := rec.Column(col(schemas.ColErrorClass)).(*array.String)
			msg := rec.Column(col(schemas.ColMessage)).(*array.String)
			size := rec.Column(col(schemas.ColInputBytes)).(*array.Int64)
			head := rec.Column(col(schemas.ColHead)).(*array.Binary)
			for i := 0; i < int(rec.NumRows()); i++ {
				r := rejectRow{Source: src.Value(i), Seq: seq.Value(i), Stage: stage.Value(i), Class: class.Value(i), Msg: msg.Value(i),
					Head: append([]byte(nil), head.Value(i)...)}
				if !ids.IsNull(i) {
					v := ids.Value(i)
					r.DocID = &v
				}
				if !size.IsNull(i) {
					v := size.Value(i)
					r.InputBytes = &v
				}
				rows = append(rows, r)
			}
		}
		tr.Release()
		tbl.Release()
	}
	return rows
}

func readManifest(t *testing.T, out string) write.Manifest {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(out, schemas.ManifestFile))
	if err != nil {
		t.Fatal(err)
	}
	var m write.Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s: %v", schemas.ManifestFile, err)
	}
	return m
}

func hostileOptions(t *testing.T, model, in, out string, l testcorpus.HostileLimits) Options {
	t.Helper()
	seg, err := modality.Options{Limits: modality.Limits{MaxDepth: l.MaxDepth, MaxPixels: l.MaxPixels, MaxAudioSeconds: l.MaxAudioSeconds}}.Config()
	if err != nil {
		t.Fatal(err)
	}
	p := patcher.DefaultOptions()
	p.Threshold = 5.5542
	return Options{
		Inputs: []string{in}, Output: out, ModelDir: model, Patcher: p, Embeddings: true,
		// One document per model call: a document's numbers do not depend
		// on which neighbours the bad inputs left it with.
		BatchTokens: 1, Keep: []string{"lang"}, JSONLSplitBytes: 2000, Version: "test",
		Limits: Limits{MaxDocBytes: l.MaxDocBytes, MaxLineBytes: l.MaxLineBytes, MaxRowBytes: l.MaxRowBytes,
			MaxFileBytes: l.MaxFileBytes, SegmenterOptions: seg},
		MaxRejects: reject.Budget{Fraction: 1, IsFraction: true},
	}
}

// The hostile corpus goes through: the run completes, every good document
// has the values of a clean run without the bad inputs, every bad input is
// one row of rejects/ with the expected stage and class and a readable
// reason, the counts add up, and nothing is read or written outside the
// given input and output.
func TestHostileCorpus(t *testing.T) {
	if testing.Short() {
		t.Skip("two pipeline runs")
	}
	dir := t.TempDir()
	l := testcorpus.DefaultHostileLimits
	hc, err := testcorpus.Hostile(dir, l)
	if err != nil {
		t.Fatal(err)
	}
	if len(hc.Cases) < 30 {
		t.Fatalf("only %d hostile cases", len(hc.Cases))
	}
	model := filepath.Join(dir, "model")
	if err := testcorpus.WriteSmallModel(model, 42); err != nil {
		t.Fatal(err)
	}
	cleanOut, hostOut := filepath.Join(dir, "out-clean"), filepath.Join(dir, "out-hostile")
	runPipeline(t, hostileOptions(t, model, hc.Clean, cleanOut, l))
	runPipeline(t, hostileOptions(t, model, hc.Hostile, hostOut, l))

	keep := []string{"lang"}
	rel := func(root, id string) string { return strings.TrimPrefix(id, root+string(filepath.Separator)) }
	clean := map[string]docRow{}
	for _, d := range readDocs(t, cleanOut, keep) {
		clean[rel(hc.Clean, d.ID)] = d
	}
	if r := readRejects(t, cleanOut); len(r) != 0 {
		t.Fatalf("the clean corpus has %d rejects, first %+v", len(r), r[0])
	}
	host := map[string]docRow{}
	for _, d := range readDocs(t, hostOut, keep) {
		id := rel(hc.Hostile, d.ID)
		if _, dup := host[id]; dup {
			t.Errorf("doc_id %q twice", id)
		}
		host[id] = d
		if strings.Contains(string(d.ID), "secret") {
			t.Errorf("document %q read through a link out of the root", d.ID)
		}
	}
	windows := 0
	for id, c := range clean {
		if strings.Contains(id, "#w") {
			windows++
		}
		h, ok := host[id]
		switch {
		case !ok:
			t.Errorf("good document %q missing from the hostile run", id)
		case h.NumBytes != c.NumBytes || h.Modality != c.Modality || !slices.Equal(h.Entropies, c.Entropies) ||
			!slices.Equal(h.Prominence, c.Prominence) || !slices.Equal(h.PatchLengths, c.PatchLengths):
			t.Errorf("%q differs: hostile %d bytes %s, clean %d bytes %s", id, h.NumBytes, h.Modality, c.NumBytes, c.Modality)
		}
	}
	if windows < 3 {
		t.Errorf("%d windows of the long text, want ≥ 3", windows)
	}
	members, gzLines := 0, 0
	for id := range host {
		if _, ok := clean[id]; ok {
			continue
		}
		switch {
		case strings.HasPrefix(id, "archives/"):
			members++
		case strings.HasPrefix(id, "gz-"):
			gzLines++
		default:
			t.Errorf("document %q is only in the hostile run", id)
		}
	}
	if members != hc.ExtraDocs || gzLines == 0 {
		t.Errorf("hostile run has %d archive members (want %d) and %d lines of the truncated gzip (want some)", members, hc.ExtraDocs, gzLines)
	}

	rows := readRejects(t, hostOut)
	used := make([]bool, len(rows))
	for _, c := range hc.Cases {
		found := false
		for i, r := range rows {
			id := ""
			if r.DocID != nil {
				id = *r.DocID
			}
			if used[i] || !strings.Contains(r.Source, c.Source) || r.Stage != c.Stage || r.Class != c.Class ||
				!(strings.Contains(r.Msg, c.Match) || strings.Contains(string(r.Head), c.Match) || strings.Contains(id, c.Match)) {
				continue
			}
			used[i], found = true, true
			break
		}
		if !found {
			t.Errorf("case %q: no reject from %s at stage %s class %s matching %q", c.Name, c.Source, c.Stage, c.Class, c.Match)
		}
	}
	for i, r := range rows {
		if r.Msg == "" || reject.Printable(r.Msg) != r.Msg || len(r.Head) > schemas.RejectHeadBytes {
			t.Errorf("reject %+v: empty or unprintable message, or head over %d bytes", r, schemas.RejectHeadBytes)
		}
		if !used[i] {
			t.Errorf("unexpected reject: source %s stage %s class %s: %s", r.Source, r.Stage, r.Class, r.Msg)
		}
	}

	m := readManifest(t, hostOut)
	a := m.Accounting
	if err := a.Check(); err != nil || m.Status != "ok" {
		t.Errorf("manifest status %q error %q accounting %v", m.Status, m.Error, err)
	}
	if a.Rejected != int64(len(hc.Cases)) || a.Documents != int64(len(host)) || m.Counts.Rejected != a.Rejected {
		t.Errorf("accounting %s, want %d documents and %d rejects", a, len(host), len(hc.Cases))
	}
	perStage := map[string]int64{}
	for _, c := range hc.Cases {
		perStage[c.Stage]++
	}
	for st, n := range perStage {
		if a.ByStage[st] != n {
			t.Errorf("rejected at %s: %d, want %d", st, a.ByStage[st], n)
		}
	}
	t.Logf("hostile run: %s; by stage %v; %d cases", a, a.ByStage, len(hc.Cases))

	// Nothing written outside the outputs; no id became a path.
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if want := []string{"clean", "hostile", "model", "out-clean", "out-hostile", "outside-secret.txt"}; !slices.Equal(names, want) {
		t.Errorf("temp dir holds %v, want %v", names, want)
	}
	filepath.WalkDir(hostOut, func(p string, d fs.DirEntry, err error) error {
		if err == nil && strings.Contains(p, "escape") {
			t.Errorf("a doc id became a path: %s", p)
		}
		return nil
	})
}

// panicSegmenter panics on documents holding "PANIC" and reads the rest
// as basic text or bytes.
type panicSegmenter struct{}

func (panicSegmenter) Segment(data []byte, hint string) ([]pretokenize.Segment, error) {
	if strings.Contains(string(data), "PANIC") {
		panic("test segmenter: PANIC in the input")
	}
	return []pretokenize.Segment{{Modality: pretokenize.Classify(data), Data: data}}, nil
}

func init() { pretokenize.Register("test-panic", panicSegmenter{}) }

// A panicking segmenter costs one reject, not the worker or the run.
func TestPanickingSegmenterIsAReject(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in")
	os.MkdirAll(in, 0o755)
	os.WriteFile(filepath.Join(in, "a.txt"), []byte("a calm document\n"), 0o644)
	os.WriteFile(filepath.Join(in, "b.txt"), []byte("this one says PANIC\n"), 0o644)
	model := filepath.Join(dir, "model")
	if err := testcorpus.WriteSmallModel(model, 1); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	o := Options{Inputs: []string{in}, Output: out, ModelDir: model, Patcher: patcher.DefaultOptions(), Segmenter: "test-panic",
		Version: "test", MaxRejects: reject.Budget{Count: 1}}
	runPipeline(t, o)
	docs := readDocs(t, out, nil)
	rows := readRejects(t, out)
	if len(docs) != 1 || !strings.HasSuffix(docs[0].ID, "a.txt") {
		t.Errorf("documents %v, want a.txt only", docs)
	}
	if len(rows) != 1 || rows[0].Stage != schemas.StagePretokenize || rows[0].Class != reject.ClassPanic ||
		!strings.Contains(rows[0].Msg, "PANIC in the input") || !strings.HasSuffix(rows[0].Source, "b.txt") {
		t.Fatalf("rejects %+v, want one pretokenize panic for b.txt", rows)
	}
	if a := readManifest(t, out).Accounting; a.Check() != nil || a.Seen != 2 {
		t.Errorf("accounting %s", a)
	}
}
