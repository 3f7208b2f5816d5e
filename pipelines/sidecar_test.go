package pipelines

import (
	"github.com/bltpipe/bltpipe/schemas"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// The hypergraph sidecars open in Debian's sqlite3 CLI: one trunk per
// source, one patch leaf per patch, next edges chaining each document's patches,
// meta rows, and doc_id lookups served by an index.
// baseScan matches a query plan step that reads a whole sidecar table.
var baseScan = regexp.MustCompile(`SCAN (node_rows|patch_leaves|edge_rows|[bpq])\b`)

func TestSidecarsQueriedBySQLite3CLI(t *testing.T) {
	sqlite := needTool(t, "sqlite3", "apt-get install sqlite3")
	c := writeCorpus(t)
	out := t.TempDir()
	o := testOptions(t, c, out)
	runPipeline(t, o)
	docs := readDocs(t, out, nil)
	patches := readPatches(t, out)

	query := func(db, sql string) string {
		t.Helper()
		b, err := exec.Command(sqlite, "-readonly", "-batch", "-noheader", db, sql).CombinedOutput()
		if err != nil {
			t.Fatalf("sqlite3 %s %q: %v\n%s", db, sql, err, b)
		}
		return strings.TrimSpace(string(b))
	}
	num := func(db, sql string) int {
		t.Helper()
		n, err := strconv.Atoi(query(db, sql))
		if err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
		return n
	}
	dbs := globSorted(t, filepath.Join(out, "hypergraph", "*.hypergraph.db"))
	if len(dbs) == 0 {
		t.Fatal("no sidecars")
	}
	leaves, next, docIDs := 0, 0, 0
	for _, db := range dbs {
		if got := query(db, "PRAGMA integrity_check"); got != "ok" {
			t.Errorf("%s: integrity %s", db, got)
		}
		if n := num(db, "SELECT count(*) FROM nodes WHERE kind = 'trunk'"); n != 1 {
			t.Errorf("%s: %d trunks, want 1 (a split reads one source)", db, n)
		}
		if n := num(db, "SELECT count(*) FROM nodes b WHERE kind = 'branch' AND NOT EXISTS (SELECT 1 FROM edges e JOIN nodes t ON t.id = e.src WHERE e.dst = b.id AND e.kind = 'contains' AND t.kind = 'trunk')"); n != 0 {
			t.Errorf("%s: %d branches without a trunk", db, n)
		}
		if v := query(db, "SELECT value FROM meta WHERE key = 'schema_version'"); v != schemas.Version {
			t.Errorf("%s: schema_version %q", db, v)
		}
		if !strings.Contains(query(db, "SELECT value FROM meta WHERE key = 'run'"), `"weights_sha256"`) {
			t.Errorf("%s: run parameters missing from meta", db)
		}
		leaves += num(db, "SELECT count(*) FROM nodes WHERE kind = 'patch'")
		next += num(db, "SELECT count(*) FROM edges e JOIN nodes n ON n.id = e.src WHERE e.kind = 'next' AND n.kind = 'patch'")
		docIDs += num(db, "SELECT count(DISTINCT doc_id) FROM nodes WHERE kind = 'patch'")
		id := query(db, "SELECT doc_id FROM nodes WHERE kind = 'patch' LIMIT 1")
		// Lookups through the views are served by indexes: no full scan of
		// a base table.
		quoted := "'" + strings.ReplaceAll(id, "'", "''") + "'"
		for q, indexes := range map[string][]string{
			"SELECT * FROM nodes WHERE doc_id = " + quoted + " ORDER BY patch_index": {"nodes_by_offset", "INTEGER PRIMARY KEY (rowid>? AND rowid<?)"},
			"SELECT * FROM nodes WHERE id = 7":                                       {"INTEGER PRIMARY KEY"},
			"SELECT * FROM edges WHERE dst = 7":                                      {"edges_by_dst", "INTEGER PRIMARY KEY"},
			"SELECT * FROM edges WHERE src = 7":                                      {"INTEGER PRIMARY KEY (rowid>? AND rowid<?)"},
		} {
			plan := query(db, "EXPLAIN QUERY PLAN "+q)
			for _, ix := range indexes {
				if !strings.Contains(plan, ix) {
					t.Errorf("%s: %s does not use %s:\n%s", db, q, ix, plan)
				}
			}
			if baseScan.MatchString(plan) {
				t.Errorf("%s: %s scans a whole table:\n%s", db, q, plan)
			}
		}
		// Leaves of a document, walked through next edges, are its patches in order.
		chain := query(db, `WITH RECURSIVE walk(id, n) AS (
			SELECT id, 0 FROM nodes WHERE doc_id = '`+strings.ReplaceAll(id, "'", "''")+`' AND patch_index = 0
			UNION ALL SELECT e.dst, n + 1 FROM edges e JOIN walk w ON e.src = w.id AND e.kind = 'next')
			SELECT group_concat(p.patch_index) FROM walk w JOIN nodes p ON p.id = w.id`)
		count := num(db, "SELECT count(*) FROM nodes WHERE kind = 'patch' AND doc_id = '"+strings.ReplaceAll(id, "'", "''")+"'")
		var want []string
		for i := 0; i < count; i++ {
			want = append(want, strconv.Itoa(i))
		}
		if chain != strings.Join(want, ",") {
			t.Errorf("%s: next chain of %s = %s", db, id, chain)
		}
	}
	if leaves != len(patches) || docIDs != len(docs) || next != len(patches)-len(docs) {
		t.Errorf("sidecars: %d leaves, %d next edges, %d docs; want %d, %d, %d", leaves, next, docIDs, len(patches), len(patches)-len(docs), len(docs))
	}
}
