package pipelines

import (
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"
	"github.com/bltpipe/bltpipe/schemas"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/bltpipe/bltpipe/modelio/patcher"
	"github.com/bltpipe/bltpipe/transforms/pretokenize/modality"
	"github.com/bltpipe/bltpipe/transforms/testcorpus"
	_ "modernc.org/sqlite"
)

// demoOptions are make demo's settings over testdata/demo: every PDF view,
// small video frames.
func demoOptions(t *testing.T, out string) Options {
	t.Helper()
	model := t.TempDir()
	if err := testcorpus.WriteSmallModel(model, 3); err != nil {
		t.Fatal(err)
	}
	seg, err := modality.Options{PDFMode: modality.PDFMultiview, VideoSize: 32, VideoEvery: 10}.Config()
	if err != nil {
		t.Fatal(err)
	}
	return Options{
		Inputs: []string{filepath.Join("..", "testdata", "demo")}, Output: out, ModelDir: model,
		Patcher: patcher.DefaultOptions(), Embeddings: true, BLTArrow: "demo", Keep: []string{"url", "score"},
		Limits: Limits{SegmenterOptions: seg},
	}
}

// sidecarChecks are queries over one sidecar whose answers must hold in
// every sidecar of a run; both SQLite readers run them.
var sidecarChecks = []struct{ name, query, want string }{
	{"patches not reachable from their trunk through contains edges", `
		WITH RECURSIVE reach(id, trunk) AS (
		  SELECT id, id FROM nodes WHERE kind = 'trunk'
		  UNION SELECT e.dst, r.trunk FROM edges e JOIN reach r ON e.src = r.id AND e.kind = 'contains')
		SELECT count(*) FROM nodes p WHERE p.kind = 'patch'
		  AND NOT EXISTS (SELECT 1 FROM reach r WHERE r.id = p.id AND r.trunk = p.trunk)`, "0"},
	{"patches under a segment that does not hold their first byte", `
		SELECT count(*) FROM edges e JOIN nodes s ON s.id = e.src JOIN nodes p ON p.id = e.dst
		WHERE e.kind = 'contains' AND s.kind = 'segment' AND p.kind = 'patch'
		  AND NOT (p.doc_id = s.doc_id AND p.byte_offset >= s.byte_offset AND p.byte_offset < s.byte_offset + s.byte_length)`, "0"},
	{"patches under their branch although a segment holds their first byte", `
		SELECT count(*) FROM edges e JOIN nodes b ON b.id = e.src JOIN nodes p ON p.id = e.dst
		WHERE e.kind = 'contains' AND b.kind = 'branch' AND p.kind = 'patch' AND EXISTS (
		  SELECT 1 FROM nodes s WHERE s.kind = 'segment' AND s.doc_id = p.doc_id
		    AND p.byte_offset >= s.byte_offset AND p.byte_offset < s.byte_offset + s.byte_length)`, "0"},
	{"patches without exactly one contains parent", `
		SELECT count(*) FROM nodes p WHERE p.kind = 'patch'
		  AND (SELECT count(*) FROM edges e WHERE e.dst = p.id AND e.kind = 'contains') != 1`, "0"},
	{"views of a source not chained by same_source (edges = branches - 1)", `
		SELECT count(*) FROM nodes t WHERE t.kind = 'trunk' AND t.sha256 IS NOT NULL
		  AND (SELECT count(*) FROM nodes b WHERE b.kind = 'branch' AND b.trunk = t.id) > 0
		  AND (SELECT count(*) FROM edges e JOIN nodes b1 ON b1.id = e.src JOIN nodes b2 ON b2.id = e.dst
		       WHERE e.kind = 'same_source' AND b1.trunk = t.id AND b2.trunk = t.id)
		   != (SELECT count(*) FROM nodes b WHERE b.kind = 'branch' AND b.trunk = t.id) - 1`, "0"},
	{"same_source edges between records of a JSONL/Parquet file", `
		SELECT count(*) FROM edges e JOIN nodes b ON b.id = e.src JOIN nodes t ON t.id = b.trunk
		WHERE e.kind = 'same_source' AND t.sha256 IS NULL`, "0"},
	{"member trunks without a member_of edge to a trunk of the same file", `
		SELECT count(*) FROM nodes m WHERE m.kind = 'trunk' AND m.member != ''
		  AND NOT EXISTS (SELECT 1 FROM edges e JOIN nodes a ON a.id = e.dst
		                  WHERE e.src = m.id AND e.kind = 'member_of' AND a.kind = 'trunk' AND a.source = m.source)`, "0"},
	{"schema version", `SELECT value FROM meta WHERE key = 'schema_version'`, schemas.Version},
}

// The committed demo corpus (make demo) reads completely, holds a file of
// every modality, and its sidecars form the hypergraph: every patch leaf
// hangs from its trunk through contains edges, the views of the PDF and of
// the video are same_source branches, the archive's members are trunks
// member_of the archive; both pure-Go SQLite and the sqlite3 CLI read it.
func TestDemoCorpus(t *testing.T) {
	out := t.TempDir()
	o := demoOptions(t, out)
	runPipeline(t, o)
	docs := readDocs(t, out, o.Keep)
	// 4 text files, 24 JSONL lines, 30 Parquet rows, then one document per
	// view: patches.py, tiny.png, tone.wav, lib.a 1 each; tiny.mp4 2
	// (frames, audio); page.pdf 3 (raw, text, image:0); bundle.zip 2.
	if want := 4 + 24 + 30 + 4 + 2 + 3 + 2; len(docs) != want {
		t.Errorf("%d documents, want %d", len(docs), want)
	}
	withURL := 0
	mods := map[string]int{}
	for _, d := range docs {
		if d.Keep["url"] != nil && d.Keep["score"] != nil {
			withURL++
		}
		mods[d.Modality]++
	}
	if withURL != 30 {
		t.Errorf("%d documents kept url and score, want the 30 Parquet rows", withURL)
	}
	for _, m := range []string{"text", "code", "image", "audio", "video", "executable", "bytes"} {
		if mods[m] == 0 {
			t.Errorf("no %s document (modalities %v)", m, mods)
		}
	}

	dbs := globSorted(t, filepath.Join(out, "hypergraph", "*.hypergraph.db"))
	cli, _ := exec.LookPath("sqlite3")
	if cli == "" && os.Getenv("CI") == "true" {
		t.Fatal("sqlite3 not found in CI (apt-get install sqlite3)")
	}
	var sameSource, memberOf []string
	patches := 0
	for _, p := range dbs {
		db, err := sql.Open("sqlite", "file:"+p+"?mode=ro")
		if err != nil {
			t.Fatal(err)
		}
		q := func(query string) string {
			t.Helper()
			rows, err := db.Query(query)
			if err != nil {
				t.Fatalf("%s: %v\n%s", p, err, query)
			}
			defer rows.Close()
			var lines []string
			for rows.Next() {
				cols, _ := rows.Columns()
				vals := make([]any, len(cols))
				ptrs := make([]any, len(cols))
				for i := range vals {
					ptrs[i] = &vals[i]
				}
				if err := rows.Scan(ptrs...); err != nil {
					t.Fatal(err)
				}
				var f []string
				for _, v := range vals {
					f = append(f, fmt.Sprint(v))
				}
				lines = append(lines, strings.Join(f, "|"))
			}
			return strings.Join(lines, "\n")
		}
		for _, c := range sidecarChecks {
			if got := q(c.query); got != c.want {
				t.Errorf("%s: %s: got %s, want %s", filepath.Base(p), c.name, got, c.want)
			}
			if cli != "" {
				b, err := exec.Command(cli, "-readonly", "-batch", "-noheader", p, c.query).CombinedOutput()
				if got := strings.TrimSpace(string(b)); err != nil || got != c.want {
					t.Errorf("sqlite3 CLI %s: %s: got %s (%v), want %s", filepath.Base(p), c.name, got, err, c.want)
				}
			}
		}
		var n int
		fmt.Sscan(q("SELECT count(*) FROM nodes WHERE kind = 'patch'"), &n)
		patches += n
		if s := q(`SELECT t.format || ':' || (SELECT group_concat(view, ',') FROM
			  (SELECT b.view FROM edges e JOIN nodes b ON b.id = e.dst WHERE e.src = t.id AND e.kind = 'contains' AND b.kind = 'branch' ORDER BY b.view_index))
			FROM nodes t WHERE t.kind = 'trunk'
			  AND EXISTS (SELECT 1 FROM edges x JOIN nodes b1 ON b1.id = x.src WHERE x.kind = 'same_source' AND b1.trunk = t.id)`); s != "" {
			sameSource = append(sameSource, strings.Split(s, "\n")...)
		}
		if s := q(`SELECT m.member || ':' || m.format || '->' || a.format FROM edges e JOIN nodes m ON m.id = e.src JOIN nodes a ON a.id = e.dst
			WHERE e.kind = 'member_of' ORDER BY m.member`); s != "" {
			memberOf = append(memberOf, strings.Split(s, "\n")...)
		}
		// Whole-file trunks carry the file's size and sha256.
		rows := q(`SELECT source || '|' || size || '|' || sha256 FROM nodes WHERE kind = 'trunk' AND member = '' AND sha256 IS NOT NULL`)
		for _, r := range strings.Split(rows, "\n") {
			if r == "" {
				continue
			}
			f := strings.Split(r, "|")
			b, err := os.ReadFile(f[0])
			sum := sha256.Sum256(b)
			if err != nil || fmt.Sprint(len(b)) != f[1] || hex.EncodeToString(sum[:]) != f[2] {
				t.Errorf("trunk %s: size %s sha256 %s; file has %d bytes, %x (%v)", f[0], f[1], f[2], len(b), sum, err)
			}
		}
		// Lookups by byte offset and by trunk are served by indexes.
		for query, index := range map[string]string{
			`SELECT id FROM nodes WHERE doc_id = 'x' AND byte_offset <= 10 ORDER BY byte_offset DESC LIMIT 1`: "nodes_by_offset",
			`SELECT count(*) FROM nodes WHERE trunk = 1 AND kind = 'patch'`:                                   "nodes_by_trunk",
			`SELECT id FROM nodes WHERE source = 'x' AND member = 'y'`:                                        "nodes_by_source",
		} {
			if plan := q("EXPLAIN QUERY PLAN " + query); !strings.Contains(plan, index) {
				t.Errorf("%s: %s does not use %s:\n%s", filepath.Base(p), query, index, plan)
			}
		}
		db.Close()
	}
	if patches != len(readPatches(t, out)) {
		t.Errorf("sidecars hold %d patch leaves, patches/ %d rows", patches, len(readPatches(t, out)))
	}
	sort.Strings(sameSource)
	if want := []string{"mp4:frames,audio", "pdf:raw,text,image:0"}; fmt.Sprint(sameSource) != fmt.Sprint(want) {
		t.Errorf("trunks with same_source branches: %q, want %q", sameSource, want)
	}
	if want := []string{"add.go:go->zip", "notes.txt:text->zip"}; fmt.Sprint(memberOf) != fmt.Sprint(want) {
		t.Errorf("member_of edges: %q, want %q", memberOf, want)
	}
}
