package read

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/passert"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/transforms/stats"
	"github.com/bltpipe/bltpipe/transforms/record"
	"github.com/bltpipe/bltpipe/transforms/testcorpus"
)

func TestMain(m *testing.M) { ptest.Main(m) }

func init() { register.Function1x1(docLen) }

func docLen(d record.Document) int { return len(d.Data) }

// readAll plans and reads every split directly (no pipeline).
func readAll(t *testing.T, patterns []string, o Options) ([]record.Split, []record.Document, int) {
	t.Helper()
	ctx := context.Background()
	splits, err := Plan(ctx, patterns, o)
	if err != nil {
		t.Fatal(err)
	}
	var docs []record.Document
	rejected := 0
	for _, sp := range splits {
		out := func(d record.Document) {
			d.Split, d.Ordinal, d.Source = sp.ID, sp.Ordinal, sp.Path
			docs = append(docs, d)
		}
		rej := func(int64, string, string, string, []byte, int64) { rejected++ }
		var err error
		switch sp.Format {
		case record.FormatJSONL:
			err = readJSONL(ctx, sp, o, out, rej)
		case record.FormatParquet:
			err = readParquet(ctx, sp, o, out, rej)
		default:
			err = readText(ctx, sp, o, out, rej)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	return splits, docs, rejected
}

func writeFile(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// Every line of a JSONL file is read exactly once whatever the split size,
// including splits that start or end mid-line or exactly on a newline.
func TestJSONLByteRangesCoverEveryLineOnce(t *testing.T) {
	dir := t.TempDir()
	recs := testcorpus.Records("d", 7, 40, 30)
	b, err := testcorpus.JSONL(recs, "")
	if err != nil {
		t.Fatal(err)
	}
	b = append(b, []byte("\nnot json\n{\"title\":\"no text\"}\n")...) // 1 empty line, 2 rejects
	path := filepath.Join(dir, "c.jsonl")
	writeFile(t, path, b)
	for _, step := range []int64{1, 7, 37, 38, 64, 1000, 1 << 30} {
		t.Run(fmt.Sprint(step), func(t *testing.T) {
			splits, docs, rejected := readAll(t, []string{path}, Options{JSONLSplitBytes: step})
			if want := (int64(len(b)) + step - 1) / step; int64(len(splits)) != want {
				t.Errorf("%d splits, want %d", len(splits), want)
			}
			if len(docs) != len(recs) || rejected != 2 {
				t.Fatalf("read %d docs, %d rejected; want %d, 2", len(docs), rejected, len(recs))
			}
			for i, d := range docs {
				if d.ID != recs[i].SampleID || string(d.Data) != recs[i].Text {
					t.Fatalf("doc %d = %q %q, want %q %q", i, d.ID, d.Data, recs[i].SampleID, recs[i].Text)
				}
				if i > 0 && docs[i-1].Seq >= d.Seq {
					t.Fatalf("Seq not increasing at %d", i)
				}
			}
		})
	}
}

func TestJSONLCompressedAndFieldChoice(t *testing.T) {
	dir := t.TempDir()
	recs := []testcorpus.JSONLRecord{
		{ID: "id-0", URL: "u0", Text: "alpha"},       // url wins over id (Meta's order)
		{ID: "id-1", Text: "beta", Lang: "de"},       // id
		{Text: "gamma"},                              // no id field: file:offset
		{SampleID: "s3", URL: "u3", Text: "delta"},   // sample_id first
		{SampleID: "s4", Text: "\u00e9t\u00e9 \x01"}, // non-ASCII survives
	}
	for _, comp := range []string{"", "gzip", "zstd"} {
		b, err := testcorpus.JSONL(recs, comp)
		if err != nil {
			t.Fatal(err)
		}
		name := map[string]string{"": "a.jsonl", "gzip": "a.jsonl.gz", "zstd": "a.jsonl.zst"}[comp]
		writeFile(t, filepath.Join(dir, comp+"x", name), b)
		_, docs, _ := readAll(t, []string{filepath.Join(dir, comp+"x", "*")}, Options{Keep: []string{"lang", "missing"}})
		var ids, texts []string
		for _, d := range docs {
			ids = append(ids, d.ID)
			texts = append(texts, string(d.Data))
		}
		want := "u0,id-1," + name + ":" + fmt.Sprint(docs[2].Seq) + ",s3,s4"
		if strings.Join(ids, ",") != want {
			t.Errorf("%s: ids %v, want %s", name, ids, want)
		}
		if texts[4] != recs[4].Text {
			t.Errorf("%s: text %q", name, texts[4])
		}
		if docs[1].Keep[0] != "de" || docs[1].KeepNull[0] || !docs[2].KeepNull[0] || !docs[1].KeepNull[1] {
			t.Errorf("%s: kept columns %v %v / %v %v", name, docs[1].Keep, docs[1].KeepNull, docs[2].Keep, docs[2].KeepNull)
		}
	}
	// --id-field and --text-field override the defaults.
	_, docs, _ := readAll(t, []string{filepath.Join(dir, "x", "a.jsonl")}, Options{IDField: "id", TextField: "text"})
	if docs[0].ID != "id-0" {
		t.Errorf("--id-field id: got %q", docs[0].ID)
	}
}

func TestParquetRowGroupSplits(t *testing.T) {
	dir := t.TempDir()
	rows := testcorpus.Rows(3, 23, 80)
	path := filepath.Join(dir, "fw.parquet")
	if err := testcorpus.WriteParquet(path, rows, 5); err != nil {
		t.Fatal(err)
	}
	for _, per := range []int64{1, 2, 10} {
		splits, docs, _ := readAll(t, []string{path}, Options{RowGroupsPerSplit: per, IDField: "id", Keep: []string{"url", "language_score", "int_score"}})
		if want := (5 + per - 1) / per; int64(len(splits)) != want {
			t.Errorf("per=%d: %d splits, want %d", per, len(splits), want)
		}
		if len(docs) != len(rows) {
			t.Fatalf("per=%d: %d docs, want %d", per, len(docs), len(rows))
		}
		for i, d := range docs {
			r := rows[i]
			if d.ID != r.ID || string(d.Data) != r.Text || d.Seq != int64(i) || d.Keep[0] != r.URL || d.Keep[2] != fmt.Sprint(r.IntScore) {
				t.Fatalf("per=%d row %d: got %q seq %d keep %v", per, i, d.ID, d.Seq, d.Keep)
			}
		}
	}
	// Default id order picks url before id (Meta's order).
	_, docs, _ := readAll(t, []string{path}, Options{})
	if docs[0].ID != rows[0].URL {
		t.Errorf("default id = %q, want url %q", docs[0].ID, rows[0].URL)
	}
}

func TestPlanIsDeterministicAndRejectsEmptyGlobs(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "b.txt"), []byte("bee"))
	writeFile(t, filepath.Join(dir, "a.txt"), []byte("ay"))
	writeFile(t, filepath.Join(dir, "sub", "c.md"), []byte("sea"))
	writeFile(t, filepath.Join(dir, ".hidden", "x.txt"), []byte("no"))
	ctx := context.Background()
	p1, err := Plan(ctx, []string{filepath.Join(dir, "*.txt"), dir}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	p2, _ := Plan(ctx, []string{dir, filepath.Join(dir, "a.txt")}, Options{})
	if len(p1) != 3 || fmt.Sprint(p1) != fmt.Sprint(p2) {
		t.Fatalf("plans differ or wrong size:\n%v\n%v", p1, p2)
	}
	var ids []string
	for i, sp := range p1 {
		if sp.Ordinal != int64(i) || !strings.HasPrefix(sp.ID, fmt.Sprintf("part-%05d-", i)) || len(sp.ID) != len("part-00000-12345678") {
			t.Errorf("split %d: %+v", i, sp)
		}
		ids = append(ids, sp.ID)
	}
	if !sort.StringsAreSorted(ids) {
		t.Errorf("ids not sorted: %v", ids)
	}
	if _, err := Plan(ctx, []string{filepath.Join(dir, "*.nope")}, Options{}); err == nil || !strings.Contains(err.Error(), "matches no files") {
		t.Errorf("empty glob: err = %v", err)
	}
}

// The Read transform runs on prism (catches missing registrations).
func TestReadOnPrism(t *testing.T) {
	dir := t.TempDir()
	recs := testcorpus.Records("p", 1, 30, 20)
	b, _ := testcorpus.JSONL(recs, "")
	want := len("plain file")
	for _, r := range recs {
		want += len(r.Text)
	}
	writeFile(t, filepath.Join(dir, "a.jsonl"), b)
	writeFile(t, filepath.Join(dir, "z.txt"), []byte("plain file"))
	p, s := beam.NewPipelineWithRoot()
	docs := Read(s, []string{dir}, Options{JSONLSplitBytes: 100})
	passert.Count(s, docs, "documents", 31)
	passert.Equals(s, stats.Sum(s, beam.ParDo(s, docLen, docs)), want)
	ptest.RunAndValidate(t, p)
}
