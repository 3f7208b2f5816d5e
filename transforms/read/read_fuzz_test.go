package read

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/bltpipe/bltpipe/transforms/record"
	"github.com/bltpipe/bltpipe/transforms/testcorpus"
)

// readSplits plans and reads a file the way the stage does (readSplitFn,
// with its recover) and returns every element in order.
func readSplits(t *testing.T, path string, o Options) []record.Document {
	t.Helper()
	ctx := context.Background()
	splits, err := Plan(ctx, []string{path}, o)
	if err != nil {
		t.Fatalf("plan: %v", err)
	}
	fn := &readSplitFn{Options: o}
	var out []record.Document
	for _, sp := range splits {
		var seen int64 = -1
		err := fn.ProcessElement(ctx, sp, func(d record.Document) { out = append(out, d) }, func(tl record.Tally) { seen = tl.Seen })
		if err != nil {
			t.Fatalf("split %s: %v (bad input must be a reject)", sp.Key, err)
		}
		if seen < 0 {
			t.Fatalf("split %s: no tally", sp.Key)
		}
	}
	return out
}

type elem struct {
	seq      int64
	id       string
	data     string
	rejected bool
}

func elems(ds []record.Document) []elem {
	var out []elem
	for _, d := range ds {
		out = append(out, elem{d.Seq, d.ID, string(d.Data), d.Rejected()})
	}
	return out
}

// FuzzJSONL: any bytes as a JSONL file are read without an error or a
// panic, every line once, and the same elements come out whatever the
// split size (a line belongs to the split holding its first byte) and
// whether lines are bounded small or large.
func FuzzJSONL(f *testing.F) {
	recs, _ := testcorpus.JSONL(testcorpus.Records("f", 1, 3, 30), "")
	for _, s := range [][]byte{recs, []byte("{\"text\":\"a\"}\n\nnot json\n{\"text\":1}\n{\"text\":\"b\",\"id\":null}"), []byte("\n\n\n"), []byte("{\"text\":\"\\u0000\"}")} {
		f.Add(s, uint16(7), uint16(40))
	}
	f.Fuzz(func(t *testing.T, data []byte, step, maxLine uint16) {
		dir := t.TempDir()
		path := filepath.Join(dir, "f.jsonl")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		o := Options{MaxLineBytes: int64(maxLine) + 1}
		whole := elems(readSplits(t, path, o))
		o.JSONLSplitBytes = int64(step%64) + 1
		split := elems(readSplits(t, path, o))
		if !slices.Equal(whole, split) {
			t.Fatalf("split size %d changes the elements:\n%v\n%v", o.JSONLSplitBytes, whole, split)
		}
		for _, e := range whole {
			if !e.rejected && e.id == "" {
				t.Fatalf("document without an id: %+v", e)
			}
			if e.rejected && e.data != "" {
				t.Fatalf("a reject carries data: %+v", e)
			}
		}
	})
}

// FuzzParquet: any bytes named *.parquet are planned and read without an
// error or a panic (corrupt footers, pages and schemas are rejects).
func FuzzParquet(f *testing.F) {
	dir := f.TempDir()
	good := filepath.Join(dir, "good.parquet")
	if err := testcorpus.WriteParquet(good, testcorpus.Rows(1, 5, 20), 2); err != nil {
		f.Fatal(err)
	}
	b, err := os.ReadFile(good)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add(b[:len(b)/2])
	f.Add([]byte("PAR1PAR1"))
	f.Add(append(append([]byte("PAR1"), make([]byte, 16)...), []byte("\x08\x00\x00\x00PAR1")...))
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(t.TempDir(), "f.parquet")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		for _, d := range readSplits(t, path, Options{MaxFileBytes: 1 << 20}) {
			if d.Rejected() && d.Reject.Message == "" {
				t.Fatalf("reject without a reason: %+v", d.Reject)
			}
		}
	})
}
