package pipelines

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"
	"github.com/bltpipe/bltpipe/schemas"
	"github.com/bltpipe/bltpipe/transforms/resume"
)

// runCounted runs the pipeline and returns its "bltpipe" counters.
func runCounted(t *testing.T, o Options) map[string]int64 {
	t.Helper()
	pr := ptest.BuildAndRun(t, func(s beam.Scope) {
		if _, err := Build(s, o); err != nil {
			t.Fatal(err)
		}
	})
	out := map[string]int64{}
	for _, c := range pr.Metrics().AllMetrics().Counters() {
		if c.Namespace() == "bltpipe" {
			out[c.Name()] += c.Result()
		}
	}
	return out
}

func sameTree(t *testing.T, what string, got, want map[string]string) {
	t.Helper()
	for p, h := range want {
		if got[p] != h {
			t.Errorf("%s: %s differs from the clean run", what, p)
		}
	}
	for p := range got {
		if _, ok := want[p]; !ok {
			t.Errorf("%s: %s is not in the clean run", what, p)
		}
	}
}

func readRecord(t *testing.T, out, split string) resume.Record {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(out, schemas.SplitsDir, split+".json"))
	if err != nil {
		t.Fatal(err)
	}
	var r resume.Record
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	return r
}

// An interrupted run, rerun with the same options, redoes only the splits
// without a valid completion record and ends with the clean run's bytes;
// a changed configuration reuses no record; Overwrite redoes everything.
func TestResumeFinishesOnlyMissingSplits(t *testing.T) {
	c := writeCorpus(t)
	clean := t.TempDir()
	o := testOptions(t, c, clean)
	cnt := runCounted(t, o)
	want := hashTree(t, clean)
	m := readManifest(t, clean)
	splits := map[string]bool{}
	for _, s := range m.Shards {
		splits[s.Split] = true
	}
	n := int64(len(splits))
	if n < 6 || cnt["splits"] != n || cnt["splits_resumed"] != 0 {
		t.Fatalf("clean run: %d splits with shards, counters %v; want ≥ 6 splits, all read", n, cnt)
	}
	if len(m.Splits) != int(n) {
		t.Errorf("manifest lists %d input splits, %d have shards", len(m.Splits), n)
	}
	for _, sp := range m.Splits {
		if !strings.HasPrefix(sp.Key, sp.Source+"#"+sp.Format) || !splits[sp.ID] {
			t.Errorf("manifest split %+v", sp)
		}
		if want[schemas.SplitsDir+"/"+sp.ID+".json"] == "" {
			t.Errorf("no completion record for %s", sp.ID)
		}
	}

	// An "interrupted" run: every split done, then the finishing steps and
	// three splits undone in the ways a kill (or a user) leaves them.
	out := t.TempDir()
	o.Output = out
	runCounted(t, o)
	for _, p := range []string{schemas.ManifestFile, schemas.StatsFile, schemas.SphereFile} {
		os.Remove(filepath.Join(out, p))
	}
	os.RemoveAll(filepath.Join(out, schemas.SphereDir))
	ids := make([]string, 0, len(m.Splits))
	for _, sp := range m.Splits {
		ids = append(ids, sp.ID)
	}
	killed, lost, corrupt, touched, kept := ids[0], ids[2], ids[3], ids[len(ids)-1], ids[1]
	// Killed while writing: some files committed, no record yet.
	os.Remove(filepath.Join(out, schemas.SplitsDir, killed+".json"))
	os.Remove(filepath.Join(out, "patches", killed+".parquet"))
	os.Remove(filepath.Join(out, "hypergraph", killed+schemas.HypergraphExt))
	// A file the record lists is gone.
	os.Remove(filepath.Join(out, "hypergraph", lost+schemas.HypergraphExt))
	// A torn record (cannot happen with rename, but must not be trusted).
	if err := os.WriteFile(filepath.Join(out, schemas.SplitsDir, corrupt+".json"), []byte(`{"record_version": "bltpipe.spl`), 0o644); err != nil {
		t.Fatal(err)
	}
	// An input rewritten since (same bytes, new modification time).
	rec := readRecord(t, out, touched)
	later := time.Now().Add(time.Hour)
	if err := os.Chtimes(rec.Input.Path, later, later); err != nil {
		t.Fatal(err)
	}
	keptDoc := filepath.Join(out, "documents", kept+".parquet")
	old := time.Now().Add(-time.Hour).Truncate(time.Second)
	if err := os.Chtimes(keptDoc, old, old); err != nil {
		t.Fatal(err)
	}
	redo := int64(4) // killed, lost, corrupt and the splits of the touched file
	for _, sp := range m.Splits[:len(m.Splits)-1] {
		if sp.Source == rec.Input.Path {
			redo++
		}
	}

	cnt = runCounted(t, o)
	if cnt["splits"] != redo || cnt["splits_resumed"] != n-redo || cnt["splits_redone"] != redo-1 {
		t.Errorf("rerun read %d splits, resumed %d, redid %d with a stale record; want %d, %d, %d",
			cnt["splits"], cnt["splits_resumed"], cnt["splits_redone"], redo, n-redo, redo-1)
	}
	if st, err := os.Stat(keptDoc); err != nil || !st.ModTime().Equal(old) {
		t.Errorf("a finished split's shard was rewritten (%v)", err)
	}
	// The touched input's record holds its new time; the rest is the clean
	// run's.
	if r := readRecord(t, out, touched); r.Input.Modified == rec.Input.Modified {
		t.Errorf("record of %s kept the old modification time %s", touched, r.Input.Modified)
	}
	got := hashTree(t, out)
	touchedRec := schemas.SplitsDir + "/" + touched + ".json"
	if got[touchedRec] == "" {
		t.Errorf("no record for %s", touched)
	}
	delete(got, touchedRec)
	wantOthers := map[string]string{}
	for p, h := range want {
		if p != touchedRec {
			wantOthers[p] = h
		}
	}
	sameTree(t, "resumed run", got, wantOthers)

	// A changed configuration reuses nothing and gives a clean run's output.
	o2 := o
	o2.Patcher.Threshold += 0.002
	clean2 := t.TempDir()
	o2.Output = clean2
	runCounted(t, o2)
	want2 := hashTree(t, clean2)
	o2.Output = out
	os.Remove(filepath.Join(out, schemas.ManifestFile))
	cnt = runCounted(t, o2)
	if cnt["splits_resumed"] != 0 || cnt["splits"] != n {
		t.Errorf("changed configuration: %d splits resumed, %d read; want 0, %d", cnt["splits_resumed"], cnt["splits"], n)
	}
	sameTree(t, "changed configuration", hashTree(t, out), want2)

	// Overwrite redoes every split, and a record of a split no longer in
	// the input disappears.
	stale := filepath.Join(out, schemas.SplitsDir, "part-99999-deadbeef.json")
	if err := os.WriteFile(stale, []byte("{}"), 0o644); err != nil {
		t.Fatal(err)
	}
	o2.Overwrite = true
	cnt = runCounted(t, o2)
	if cnt["splits_resumed"] != 0 || cnt["splits"] != n {
		t.Errorf("overwrite: %d splits resumed, %d read; want 0, %d", cnt["splits_resumed"], cnt["splits"], n)
	}
	sameTree(t, "overwrite", hashTree(t, out), want2)
}

// The manifest of a resumed run lists every planned input split, and the
// resumed splits' records carry what Finalize needs.
func TestResumeRecordContents(t *testing.T) {
	c := writeCorpus(t)
	out := t.TempDir()
	o := testOptions(t, c, out)
	o.Inputs = []string{filepath.Join(c.dir, "jsonl", "*")}
	runCounted(t, o)
	m := readManifest(t, out)
	for _, sp := range m.Splits {
		r := readRecord(t, out, sp.ID)
		if r.Key != sp.Key || r.Input.Path != sp.Source || r.Input.Start != sp.Start || r.Input.End != sp.End || r.Input.Modified == "" || r.Input.Size <= 0 {
			t.Errorf("record of %s: key %q input %+v", sp.ID, r.Key, r.Input)
		}
		var rows, seen int64
		for _, s := range r.Shards {
			if s.Split != sp.ID || s.SHA256 == "" {
				t.Errorf("record of %s lists %+v", sp.ID, s)
			}
			if s.Table == schemas.DocumentsDir {
				rows += s.Rows
			}
		}
		for _, tl := range r.Tallies {
			seen += tl.Seen
		}
		if rows == 0 || seen != rows || r.Stats == nil || r.Stats.Documents != rows || r.Stats.Split != sp.ID {
			t.Errorf("record of %s: %d documents, %d seen, stats %v", sp.ID, rows, seen, r.Stats != nil)
		}
	}
}
