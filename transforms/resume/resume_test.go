package resume

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bltpipe/bltpipe/schemas"
	"github.com/bltpipe/bltpipe/transforms/record"
	"github.com/bltpipe/bltpipe/transforms/waterfill"
)

// A record is written only when the ledger holds the split's plan and its
// tallies add up to its documents and rejects, and Load accepts it only
// while split, configuration, input and files all match.
func TestCommitAndLoad(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	in := filepath.Join(dir, "in.jsonl")
	if err := os.WriteFile(in, []byte(`{"text":"a"}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	sp := record.Split{ID: "part-00000-abcdef01", Key: in + "#jsonl[0,13)", Path: in, Format: record.FormatJSONL, End: 13}
	c := Config{Output: out, Fingerprint: "cfg", Ledger: NewLedger()}
	doc := filepath.Join(out, "documents", sp.ID+".parquet")
	if err := os.MkdirAll(filepath.Dir(doc), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(doc, []byte("12345"), 0o644); err != nil {
		t.Fatal(err)
	}
	shards := []record.ShardInfo{{Table: schemas.DocumentsDir, Path: "documents/" + sp.ID + ".parquet", Split: sp.ID, Rows: 1, Bytes: 5}}
	stats := &waterfill.Partial{Split: sp.ID, Documents: 1}
	fp, err := InputOf(ctx, sp)
	if err != nil || fp.Size != 13 || fp.Modified == "" {
		t.Fatalf("input fingerprint %+v, %v", fp, err)
	}
	exists := func() bool { _, err := os.Stat(Path(out, sp.ID)); return err == nil }

	// Not planned in this process: no record.
	NoteTally(c.Ledger, record.Tally{Split: sp.ID, Stage: schemas.StageRead, Seen: 1})
	if err := Commit(ctx, c, sp.ID, shards, stats); err != nil || exists() {
		t.Fatalf("record without a plan: %v, written %v", err, exists())
	}
	// Tallies that do not add up: no record.
	notePlan(c.Ledger, sp, fp)
	NoteTally(c.Ledger, record.Tally{Split: sp.ID, Stage: schemas.StageRead, Seen: 2})
	if err := Commit(ctx, c, sp.ID, shards, stats); err != nil || exists() {
		t.Fatalf("record with 2 seen for 1 document: %v, written %v", err, exists())
	}
	notePlan(c.Ledger, sp, fp)
	NoteTally(c.Ledger, record.Tally{Split: sp.ID, Stage: schemas.StageRead, Seen: 1})
	if err := Commit(ctx, c, sp.ID, shards, stats); err != nil || !exists() {
		t.Fatalf("record: %v, written %v", err, exists())
	}
	if len(ledger) != 0 {
		t.Errorf("ledger keeps %d entries after the commits", len(ledger))
	}

	if r, ok, why := Load(ctx, c, sp, fp); r == nil || !ok || r.Stats.Documents != 1 || len(r.Tallies) != 1 {
		t.Fatalf("Load: %+v, %v, %s", r, ok, why)
	}
	for name, tc := range map[string]struct {
		c  Config
		sp record.Split
		in Input
	}{
		"config":   {Config{Output: out, Fingerprint: "other"}, sp, fp},
		"key":      {c, record.Split{ID: sp.ID, Key: sp.Key + "x"}, fp},
		"input":    {c, sp, Input{Path: in, Format: record.FormatJSONL, End: 13, Size: 13, Modified: "2000-01-01T00:00:00Z"}},
		"absent":   {c, record.Split{ID: "part-00001-abcdef02", Key: sp.Key}, fp},
		"overflow": {c, sp, fp},
	} {
		if name == "overflow" {
			os.WriteFile(doc, []byte("123456"), 0o644)
		}
		r, ok, why := Load(ctx, tc.c, tc.sp, tc.in)
		if r != nil || ok != (name != "absent") || why == "" {
			t.Errorf("%s: Load gave %v, exists %v, %q", name, r != nil, ok, why)
		}
	}
	os.WriteFile(Path(out, sp.ID), []byte(`{"record_version":`), 0o644)
	if r, ok, why := Load(ctx, c, sp, fp); r != nil || !ok || !strings.Contains(why, "corrupt") {
		t.Errorf("torn record: %v, %v, %q", r != nil, ok, why)
	}

	// Prune keeps the records of the input's splits only.
	os.WriteFile(Path(out, "part-00009-00000000"), []byte("{}"), 0o644)
	os.WriteFile(filepath.Join(out, schemas.SplitsDir, ".x.json.bltpipe-tmp-0a"), nil, 0o644)
	if err := Prune(ctx, out, map[string]bool{sp.ID: true}); err != nil {
		t.Fatal(err)
	}
	left, _ := os.ReadDir(filepath.Join(out, schemas.SplitsDir))
	if len(left) != 1 || left[0].Name() != sp.ID+".json" {
		t.Errorf("after Prune: %v", left)
	}
}

// A record listing a file outside the split's tables is never used.
func TestRecordConsistency(t *testing.T) {
	r := Record{Split: "s", Tallies: []Tally{{Stage: "read", Seen: 1}}}
	for _, s := range []record.ShardInfo{
		{Table: "documents", Path: "../documents/s.parquet", Split: "s", Rows: 1},
		{Table: "documents", Path: "patches/s.parquet", Split: "s", Rows: 1},
		{Table: "documents", Path: "documents/s.parquet", Split: "t", Rows: 1},
		{Table: "_MANIFEST.json", Path: "_MANIFEST.json", Split: "s", Rows: 1},
		{Table: "documents", Path: "documents/s.parquet", Split: "s", Rows: 2},
	} {
		r.Shards = []record.ShardInfo{s}
		if err := r.consistent(); err == nil {
			t.Errorf("%+v accepted", s)
		}
	}
	r.Shards = []record.ShardInfo{{Table: "blt.complete", Path: "blt/x.shard_0.arrow.complete", Split: "s"}, {Table: "rejects", Path: "rejects/s.parquet", Split: "s", Rows: 1}}
	if err := r.consistent(); err != nil {
		t.Error(err)
	}
}
